"""Fixtures shared by the serial unit tests."""

import pytest

from hpcml.io import read_any
from hpcml.testing.data import embedded_water


@pytest.fixture(scope="session")
def water_frames():
    """The embedded water sample (DeePMD-kit data, 192 atoms per frame)."""
    return read_any(embedded_water())
