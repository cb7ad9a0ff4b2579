"""Fixtures shared by the serial unit tests."""

import pytest

from hpcml.io import read_any
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water


@pytest.fixture(scope="session")
def water_frames():
    """The embedded water sample (DeePMD-kit data, 192 atoms per frame)."""
    return read_any(embedded_water())


@pytest.fixture(params=["serial", "mpi"])
def ctx(request):
    """A one-rank Context: SerialComm, then a size-1 MPI communicator."""
    if request.param == "serial":
        return Context.create(serial=True)
    pytest.importorskip("mpi4py")
    return Context.create()
