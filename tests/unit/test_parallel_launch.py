"""A launcher that started N > 1 processes while the communicator has 1 stops the job."""

import pytest

from hpcml.parallel import Context
from hpcml.parallel.context import LaunchMismatchError, check_launch
from hpcml.parallel.launcher import LAUNCHERS, detect

ALL = ({v for _, *names in LAUNCHERS for v in names if v}
       | {"SLURM_NTASKS", "SLURM_STEP_ID", "SLURM_NODEID", "TORCHELASTIC_RUN_ID",
          "HPCML_NO_MPI"})


@pytest.fixture
def env(monkeypatch):
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def launcher_processes():
    found = detect().processes()
    return found and found[:2]


@pytest.mark.parametrize("variables,name", [
    ({"OMPI_COMM_WORLD_SIZE": "2"}, "OMPI_COMM_WORLD_SIZE=2"),
    ({"PMI_SIZE": "4"}, "PMI_SIZE=4"),
    ({"PMIX_RANK": "1"}, "PMIX_RANK=1"),
    ({"MPI_LOCALNRANKS": "2"}, "MPI_LOCALNRANKS=2"),
    ({"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "0"},
     "SLURM_STEP_NUM_TASKS=2"),
    ({"SLURM_STEP_ID": "3", "SLURM_PROCID": "1"}, "SLURM_PROCID=1"),
    ({"PMI_RANK": "0", "PMI_SIZE": "3"}, "PMI_SIZE=3"),
    ({"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "WORLD_SIZE": "2"}, "WORLD_SIZE=2"),
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


def test_precedence_and_fields(env):
    """Open MPI's variables win over PMIx's and Slurm's; each field comes from the
    first launcher that sets it, and the sources name the variables."""
    env.setenv("SLURM_STEP_ID", "0")
    env.setenv("SLURM_PROCID", "5")
    env.setenv("SLURM_STEP_NUM_TASKS", "8")
    env.setenv("SLURM_LOCALID", "1")
    env.setenv("SLURM_NODEID", "2")
    env.setenv("SLURM_STEP_TASKS_PER_NODE", "3(x2),2")
    info = detect()
    assert (info.launcher, info.rank, info.size, info.local_rank, info.local_size) == \
        ("Slurm srun", 5, 8, 1, 2)
    env.setenv("PMIX_RANK", "5")
    assert detect().launcher == "PMIx" and detect().size == 8   # size still Slurm's
    env.setenv("OMPI_COMM_WORLD_RANK", "3")
    env.setenv("OMPI_COMM_WORLD_SIZE", "4")
    env.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0")
    env.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4")
    info = detect()
    assert (info.launcher, info.rank, info.size, info.local_rank, info.local_size) == \
        ("Open MPI", 3, 4, 0, 4)
    assert info.sources["size"] == "OMPI_COMM_WORLD_SIZE=4"
    assert detect({}).launcher == "" and detect({}).processes() is None
    # torchrun's generic names count only under torchrun
    assert detect({"RANK": "1", "WORLD_SIZE": "2"}).processes() is None


def test_context_without_mpi_takes_the_launchers_node_layout(env):
    env.setenv("HPCML_NO_MPI", "1")
    env.setenv("MPI_LOCALRANKID", "0")
    env.setenv("MPI_LOCALNRANKS", "1")
    ctx = Context.create()
    assert (ctx.local_rank, ctx.local_size) == (0, 1)


def test_device_choice(env, monkeypatch):
    from hpcml.errors import UserError
    from hpcml.parallel.launcher import gpu_index

    monkeypatch.delenv("HPCML_DEVICE", raising=False)
    assert gpu_index(5, 4) == 1 and gpu_index(3, 1) == 0
    ctx = Context.create(serial=True, device="cpu")
    assert ctx.device == "cpu" and ctx.split(1).device_request == "cpu"
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert Context.create(serial=True).device == "cpu"
        with pytest.raises(UserError, match="parallel.device is cuda but torch sees no GPU"):
            _ = Context.create(serial=True, device="cuda").device
    monkeypatch.setenv("HPCML_DEVICE", "cpu")
    assert Context.create(serial=True, device="cuda").device == "cpu"   # the variable wins


def test_allocation_figures():
    from hpcml.parallel.launcher import allocation_cpus, allocation_memory, tasks_on_node

    assert tasks_on_node("32(x4)", 3) == 32 and tasks_on_node("32(x4)", 4) is None
    assert allocation_cpus({"SLURM_JOB_CPUS_PER_NODE": "32(x3),16"}) == \
        (112, "SLURM_JOB_CPUS_PER_NODE=32(x3),16")
    assert allocation_cpus({}) is None
    assert allocation_memory({"SLURM_MEM_PER_NODE": "1024"})[0] == 1 << 30
    assert allocation_memory({"SLURM_MEM_PER_CPU": "512", "SLURM_CPUS_ON_NODE": "4"})[0] == \
        2 << 30


def test_memory_limit_reads_the_launcher(tmp_path):
    """Without a Context the limit is shared by the launcher's ranks on the node, and
    the job's Slurm memory lowers it."""
    from hpcml.parallel.memory import rank_limit

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {8 << 20} kB\n")             # 8 GiB
    step = {"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "4",
            "SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "4"}
    limit = rank_limit(env=step, meminfo=meminfo, cgroup=tmp_path / "none")
    assert limit.bytes == 2 << 30 and "shared by 4 ranks" in limit.source
    limit = rank_limit(env={**step, "SLURM_MEM_PER_NODE": "4096"}, meminfo=meminfo,
                       cgroup=tmp_path / "none")
    assert limit.bytes == 1 << 30 and "SLURM_MEM_PER_NODE=4096" in limit.source
