"""What the launcher told this process: rank, size, local rank, device, allocation.

The one place that reads the variables of process launchers and batch
systems (no MPI import, so it works before ``MPI_Init`` and without mpi4py).
The launch-mismatch guard (:func:`hpcml.parallel.context.check_launch`), the
node layout of a Context without MPI, the memory limit
(:mod:`hpcml.parallel.memory`), the device choice and the labeler's
concurrency cap (:func:`allocation_cpus`) read from here.

Precedence: for each of rank, size, local rank and local size, the first
launcher of :data:`LAUNCHERS` that sets it wins, in this order:

- Open MPI ``mpirun``: ``OMPI_COMM_WORLD_RANK``, ``_SIZE``, ``_LOCAL_RANK``,
  ``_LOCAL_SIZE``;
- PMI (MPICH/Hydra, Intel MPI, ``srun --mpi=pmi2``): ``PMI_RANK``,
  ``PMI_SIZE``, ``MPI_LOCALRANKID``, ``MPI_LOCALNRANKS``;
- Cray PALS (PBS): ``PALS_RANKID``, ``PALS_LOCAL_RANKID``, ``PALS_LOCAL_SIZE``;
- PMIx (``srun --mpi=pmix``, Open MPI 5): ``PMIX_RANK``;
- Slurm ``srun`` step: ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS`` (else
  ``SLURM_NTASKS``), ``SLURM_LOCALID``, ``SLURM_STEP_TASKS_PER_NODE`` (this
  node's entry);
- torchrun: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``.

Slurm's step variables count only inside an ``srun`` step (``SLURM_STEP_ID``
set): a batch script also has ``SLURM_NTASKS`` and ``SLURM_PROCID=0`` but
is one process.  torchrun's generic names count only with
``TORCHELASTIC_RUN_ID`` set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: (launcher, rank, size, local rank, local size) variables, in precedence order;
#: None where that launcher has no such variable
LAUNCHERS: tuple[tuple[str, str | None, str | None, str | None, str | None], ...] = (
    ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("PMI (MPICH/Hydra, srun --mpi=pmi2)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID",
     "MPI_LOCALNRANKS"),
    ("Cray PALS", "PALS_RANKID", None, "PALS_LOCAL_RANKID", "PALS_LOCAL_SIZE"),
    ("PMIx", "PMIX_RANK", None, None, None),
    ("Slurm srun", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID",
     "SLURM_STEP_TASKS_PER_NODE"),
    ("Slurm srun", None, "SLURM_NTASKS", None, None),      # older srun: the job's count
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
)
#: prefixes of the variables by which a launcher wires its processes together: a child
#: program (CP2K) started with them would try to join the enclosing job.  ``SLURM_STEP``:
#: with the step's variables an Open MPI program started from inside an ``srun`` step
#: believes it was direct-launched by srun and aborts ("OPAL ERROR: Unreachable"); the
#: job's own variables (``SLURM_JOB_ID``, ...) stay, a nested ``srun`` needs them
WIRING_PREFIXES = ("OMPI_", "PMIX_", "PRTE_", "PMI_", "HYDRA_", "I_MPI_", "PALS_", "SLURM_STEP")
_SLURM_STEP, _TORCHRUN = "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID"
_FIELDS = ("rank", "size", "local_rank", "local_size")


def _int(env: Mapping[str, str], name: str | None) -> int | None:
    """Integer value of ``env[name]``; None when unset or not a number."""
    if name is None:
        return None
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return None


def tasks_on_node(spec: str, node: int) -> int | None:
    """Tasks on node ``node`` of a Slurm ``*_TASKS_PER_NODE`` value.

    >>> tasks_on_node("4(x2),3", 2), tasks_on_node("2", 0), tasks_on_node("2(x3)", 5)
    (3, 2, None)
    """
    seen = 0
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not match:
            return None
        count, repeat = int(match.group(1)), int(match.group(2) or 1)
        if node < seen + repeat:
            return count
        seen += repeat
    return None


def _slurm_local_size(env: Mapping[str, str], name: str) -> int | None:
    """Tasks of this ``srun`` step on this node (``SLURM_STEP_TASKS_PER_NODE``)."""
    spec = env.get(name)
    node = _int(env, "SLURM_NODEID") or 0
    return tasks_on_node(spec, node) if spec else None


@dataclass(frozen=True)
class LaunchInfo:
    """What the environment says about this process's place in a parallel launch.

    Attributes
    ----------
    launcher
        Name of the first launcher whose variables are set (``""``: none).
    rank, size, local_rank, local_size
        Each from the first launcher in :data:`LAUNCHERS` that sets it; None
        when no launcher does.
    sources
        ``field -> "VARIABLE=value"`` for the fields found.
    """

    launcher: str = ""
    rank: int | None = None
    size: int | None = None
    local_rank: int | None = None
    local_size: int | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def processes(self) -> tuple[str, int, bool] | None:
        """``("VARIABLE=value", N, exact)`` when the launcher started N > 1 processes.

        A size (or a local size) above 1, else a rank above 0 (at least rank + 1
        processes, ``exact`` False).
        """
        for key in ("size", "local_size"):
            n = getattr(self, key)
            if n is not None and n > 1:
                return self.sources[key], n, key == "size"
        if self.rank is not None and self.rank > 0:
            return self.sources["rank"], self.rank + 1, False
        return None


def detect(env: Mapping[str, str] | None = None) -> LaunchInfo:
    """Read the launcher variables of ``env`` (default ``os.environ``).

    >>> detect({"SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "4",
    ...         "SLURM_LOCALID": "1", "SLURM_STEP_TASKS_PER_NODE": "2(x2)"}).local_size
    2
    >>> detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}).size is None   # a batch script
    True
    """
    env = os.environ if env is None else env
    found: dict[str, int] = {}
    sources: dict[str, str] = {}
    launcher = ""
    for name, *variables in LAUNCHERS:
        if name == "Slurm srun" and _SLURM_STEP not in env:
            continue
        if name == "torchrun" and _TORCHRUN not in env:
            continue
        for key, var in zip(_FIELDS, variables):
            if key in found or var is None:
                continue
            value = (_slurm_local_size(env, var) if var == "SLURM_STEP_TASKS_PER_NODE"
                     else _int(env, var))
            if value is None:
                continue
            found[key], sources[key] = value, f"{var}={env[var]}"
            launcher = launcher or name
    return LaunchInfo(launcher, *(found.get(k) for k in _FIELDS), sources)


def under_launcher(env: Mapping[str, str] | None = None) -> bool:
    """True in a process started by ``mpirun``/``mpiexec``/``srun``/torchrun."""
    return bool(detect(env).launcher)


def gpu_index(local_rank: int, n_gpus: int) -> int:
    """The GPU of a process: its local rank modulo the visible GPUs.

    When the launcher binds one GPU per task (``srun --gpus-per-task=1``,
    ``CUDA_VISIBLE_DEVICES`` set per process) each process sees one GPU, index 0.
    """
    if n_gpus < 1:
        raise ValueError("no GPU visible")
    return local_rank % n_gpus


def allocation_cpus(env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """CPUs of the Slurm allocation this process runs in, and the variable that says so.

    The sum of ``SLURM_JOB_CPUS_PER_NODE`` (``"32(x4)"`` is 128).  None
    outside Slurm: PBS's ``NCPUS`` is the threads of one process (``ompthreads``),
    not the chunk's cores, so PBS allocations are not read.
    """
    env = os.environ if env is None else env
    spec = env.get("SLURM_JOB_CPUS_PER_NODE")
    if spec:
        total, node = 0, 0
        while (n := tasks_on_node(spec, node)) is not None:
            total, node = total + n, node + 1
        if total:
            return total, f"SLURM_JOB_CPUS_PER_NODE={spec}"
    return None


def allocation_memory(env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """Bytes of memory the batch system granted the job on this node, and the source.

    Slurm: ``SLURM_MEM_PER_NODE`` (MiB), else ``SLURM_MEM_PER_CPU`` x
    ``SLURM_CPUS_ON_NODE``.  Sites without memory cgroups enforce it only by
    accounting, so :mod:`hpcml.parallel.memory` counts it as a limit.
    """
    env = os.environ if env is None else env
    per_node = _int(env, "SLURM_MEM_PER_NODE")
    if per_node:
        return per_node << 20, f"SLURM_MEM_PER_NODE={per_node} (MiB)"
    per_cpu, cpus = _int(env, "SLURM_MEM_PER_CPU"), _int(env, "SLURM_CPUS_ON_NODE")
    if per_cpu and cpus:
        return (per_cpu * cpus) << 20, (f"SLURM_MEM_PER_CPU={per_cpu} (MiB) x "
                                        f"SLURM_CPUS_ON_NODE={cpus}")
    return None


def child_environment(env: Mapping[str, str] | None = None,
                      keep: tuple[str, ...] = ()) -> dict[str, str]:
    """``env`` without the launcher's wiring variables (:data:`WIRING_PREFIXES`).

    For a child program that must run on its own, not join this job;
    variables starting with a prefix in ``keep`` stay.
    """
    env = os.environ if env is None else env
    return {k: v for k, v in env.items()
            if not k.startswith(WIRING_PREFIXES) or (keep and k.startswith(keep))}
