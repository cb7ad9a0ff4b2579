"""Fixtures for the MPI suite, run as ``mpirun -n N python -m pytest tests/mpi``.

The whole suite runs on every rank.  Use ``ctx`` for the job's Context,
``mpi_tmp_path`` for a directory shared by all ranks, and
``hpcml.parallel.parallel_assert`` for checks, never a bare ``assert`` on a
rank-local value.
"""

import pytest

from hpcml.parallel import Context
from hpcml.testing.mpi import shared_tmp_path


@pytest.fixture(scope="session")
def ctx():
    return Context.create()


@pytest.fixture
def mpi_tmp_path(ctx):
    with shared_tmp_path(ctx) as path:
        yield path
