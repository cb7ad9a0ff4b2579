"""Where the tests and benchmarks find the project's shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

#: the repository root, when hpcml runs from a checkout
REPO = Path(__file__).resolve().parents[2]


def water_dir() -> Path:
    """DeePMD-kit's water systems (data_0..data_2, 192 atoms each).

    ``HPCML_WATER`` if set, else ``shared/data/water`` beside the checkout
    (where the development workspace and CI keep it).
    """
    return Path(os.environ.get("HPCML_WATER", REPO.parent / "shared" / "data" / "water"))


def embedded_water() -> Path:
    """The water sample shipped inside the package (20 frames of data_0)."""
    return Path(__file__).resolve().parents[1] / "data" / "water"
