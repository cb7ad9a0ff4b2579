"""Fixtures shared by the serial unit tests."""

from pathlib import Path

import pytest

import hpcml
from hpcml.io import read_any

EMBEDDED_WATER = Path(hpcml.__file__).parent / "data" / "water"


@pytest.fixture(scope="session")
def water_frames():
    """The embedded water sample (DeePMD-kit data, 192 atoms per frame)."""
    return read_any(EMBEDDED_WATER)
