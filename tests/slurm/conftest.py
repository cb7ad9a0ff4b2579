"""A real one-node Slurm for the job-template tests (hpcml.testing.slurm.LocalSlurm)."""

import pytest

from hpcml.testing.slurm import LocalSlurm, missing


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """The cluster, started once for the session and stopped (by PID) at its end."""
    why = missing()
    if why:
        pytest.skip(why)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()
