"""A launcher that started N > 1 processes while the communicator has 1 stops the job."""

import pytest

from hpcml.parallel import Context
from hpcml.parallel.context import (
    SIZE_VARIABLES,
    LaunchMismatchError,
    check_launch,
    launcher_processes,
)

ALL = (*SIZE_VARIABLES, "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MPI_LOCALRANKID",
       "SLURM_NTASKS", "SLURM_PROCID", "SLURM_STEP_ID", "HPCML_NO_MPI")


@pytest.fixture
def env(monkeypatch):
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variables,name", [
    ({"OMPI_COMM_WORLD_SIZE": "2"}, "OMPI_COMM_WORLD_SIZE=2"),
    ({"PMI_SIZE": "4"}, "PMI_SIZE=4"),
    ({"PMIX_RANK": "1"}, "PMIX_RANK=1"),
    ({"MPI_LOCALNRANKS": "2"}, "MPI_LOCALNRANKS=2"),
    ({"SLURM_STEP_ID": "0", "SLURM_NTASKS": "2", "SLURM_PROCID": "0"}, "SLURM_NTASKS=2"),
])
def test_mismatch_names_the_variable_and_the_fix(env, variables, name):
    for key, value in variables.items():
        env.setenv(key, value)
    env.setenv("HPCML_NO_MPI", "1")
    with pytest.raises(LaunchMismatchError) as exc:
        Context.create()
    assert name in str(exc.value) and "unset HPCML_NO_MPI" in str(exc.value)
    env.delenv("HPCML_NO_MPI")
    with pytest.raises(LaunchMismatchError, match="install mpi4py"):
        check_launch(1, has_mpi=False)
    with pytest.raises(LaunchMismatchError, match="mpi4py built for another MPI"):
        check_launch(1, has_mpi=True)


def test_no_mismatch(env):
    env.setenv("SLURM_NTASKS", "4")           # a batch script, not an srun step
    env.setenv("SLURM_PROCID", "0")
    assert launcher_processes() is None
    env.setenv("OMPI_COMM_WORLD_SIZE", "1")
    env.setenv("HPCML_NO_MPI", "1")
    assert Context.create().size == 1
    env.setenv("OMPI_COMM_WORLD_SIZE", "2")
    check_launch(2, has_mpi=True)
    assert Context.create(serial=True).size == 1
