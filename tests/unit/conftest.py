"""Fixtures shared by the serial unit tests."""

import numpy as np
import pytest

from hpcml.io import read_any
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water


@pytest.fixture(scope="session")
def water_frames():
    """The embedded water sample (DeePMD-kit data, 192 atoms per frame)."""
    return read_any(embedded_water())


@pytest.fixture(scope="session")
def small_water(water_frames):
    """8 O + 16 H of the sample in a skewed half cell (periodic, with images).

    Returns ``(coord (24, 3), cell (3, 3), atype (24,))``.
    """
    f = water_frames.frame(0)
    pick = np.r_[0:8, 64:80]
    cell = f["cell"].astype(float) * 0.5
    cell[1, 0], cell[2, 1] = 1.3, -0.8
    coord, atype = f["coord"][pick].astype(float), f["atype"][pick].copy()
    assert set(atype.tolist()) == {0, 1}
    return coord, cell, atype


@pytest.fixture(params=["serial", "mpi"])
def ctx(request):
    """A one-rank Context: SerialComm, then a size-1 MPI communicator."""
    if request.param == "serial":
        return Context.create(serial=True)
    pytest.importorskip("mpi4py")
    return Context.create()
