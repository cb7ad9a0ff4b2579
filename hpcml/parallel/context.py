"""The :class:`Context`: owner of the communicator for one hpcml job.

A Context is built once by the driver (``Context.create()`` in the CLI) and
passed to everything that needs to know about ranks.  Ensembles split it into
groups with :meth:`Context.split`.  With mpi4py absent, with
``HPCML_NO_MPI=1``, or on one rank, the same code runs on a
:class:`~hpcml.parallel.serial.SerialComm` or a size-1 MPI communicator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from hpcml.errors import UserError
from hpcml.parallel import launcher
from hpcml.parallel.serial import SerialComm


class LaunchMismatchError(UserError):
    """A launcher started several processes but each sees a communicator of one."""


def under_mpi_launcher() -> bool:
    """True in a process started by ``mpirun``/``mpiexec``/``srun`` (no MPI import)."""
    return launcher.under_launcher()


def check_launch(size: int, has_mpi: bool) -> None:
    """Stop when the launcher started several processes but the communicator has one.

    The launcher's variables are read by :func:`hpcml.parallel.launcher.detect`.
    Without this, every process of ``mpirun -n N`` with a missing or
    mismatched mpi4py runs the whole job as rank 0 of 1 in the same directory.

    Raises
    ------
    LaunchMismatchError
        Naming the launcher variable and the fix.
    """
    found = launcher.detect().processes()
    if size != 1 or found is None:
        return
    variable, n, exact = found
    forced = os.environ.get("HPCML_NO_MPI", "") not in ("", "0")
    if forced:
        why = "HPCML_NO_MPI is set, so each process runs alone"
        fix = "unset HPCML_NO_MPI, or run one process without mpirun/srun"
    elif not has_mpi:
        why = "mpi4py does not import in this Python"
        fix = ("install mpi4py for the MPI library of this launcher (Debian: python3-mpi4py "
               "with openmpi-bin; on a cluster load the matching modules), or run one process "
               "without mpirun/srun")
    else:
        why = "mpi4py's MPI sees a world of 1 process (mpi4py built for another MPI library)"
        fix = ("use the mpirun/srun of the MPI library that mpi4py was built with "
               "(python -c 'import mpi4py; print(mpi4py.get_config())'), or rebuild mpi4py "
               "for this launcher's MPI")
    many = f"{n}" if exact else f"at least {n}"
    raise LaunchMismatchError(f"the launcher started {many} processes ({variable}) "
                              f"but this one sees a communicator of 1: {why}. Each process "
                              f"would run the whole job as rank 0 of 1. Fix: {fix}")


def _world_comm(serial: bool) -> tuple[Any, bool]:
    """Return ``(comm, has_mpi)`` for the whole job."""
    if serial or os.environ.get("HPCML_NO_MPI", "") not in ("", "0"):
        return SerialComm(), False
    try:
        from mpi4py import MPI
    except ImportError:
        return SerialComm(), False
    return MPI.COMM_WORLD, True


def _node_layout(comm: Any, has_mpi: bool) -> tuple[int, int]:
    """Rank of this process among the ranks of ``comm`` on its node, and their number.

    From MPI's shared-memory split; without MPI (one process) the launcher's
    local rank and size (:mod:`hpcml.parallel.launcher`), else 0 and 1.
    """
    if not has_mpi:
        info = launcher.detect()
        return info.local_rank or 0, max(info.local_size or 1, 1)
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_rank(), node.Get_size()
    finally:
        node.Free()


@dataclass(frozen=True)
class Context:
    """Communicator, rank layout and device of one process.

    Attributes
    ----------
    comm
        mpi4py communicator, or a :class:`SerialComm`.
    has_mpi
        True when ``comm`` is a real MPI communicator (also at size 1).
    local_rank
        Rank among the processes on the same node (selects the GPU).
    local_size
        Number of processes of the job on this node (they share its memory).
    group, n_groups
        Index of this process's group and the number of groups, after
        :meth:`split` (0 and 1 for the whole job).
    device_request
        ``parallel.device``: ``auto``, ``cpu`` or ``cuda`` (see :attr:`device`).
    hdf5_writer
        ``parallel.hdf5_writer``: what the frame stores' ``"auto"`` writer
        means on this Context (:func:`hpcml.io.hdf5.writers.resolve_writer`).
    parent
        The Context this one was split from, or None.
    """

    comm: Any
    has_mpi: bool = False
    local_rank: int = 0
    local_size: int = 1
    group: int = 0
    n_groups: int = 1
    device_request: str = "auto"
    hdf5_writer: str = "auto"
    parent: Context | None = field(default=None, repr=False, compare=False)

    @classmethod
    def create(cls, comm: Any = None, serial: bool = False, device: str = "auto",
               hdf5_writer: str = "auto") -> Context:
        """Build the job's Context.

        Parameters
        ----------
        comm
            Communicator to own; default ``MPI.COMM_WORLD`` when mpi4py imports.
        serial
            Force a :class:`SerialComm` even when mpi4py is present (and skip
            the launcher check).
        device
            ``auto``, ``cpu`` or ``cuda`` (config ``parallel.device``).
        hdf5_writer
            ``auto``, ``mpio`` or ``gather`` (config ``parallel.hdf5_writer``).

        Raises
        ------
        LaunchMismatchError
            Under ``mpirun``/``srun`` with N > 1 processes when the world
            communicator has size 1 (see :func:`check_launch`).
        """
        if comm is None:
            comm, has_mpi = _world_comm(serial)
            if not serial:
                check_launch(comm.Get_size(), has_mpi)
        else:
            has_mpi = not isinstance(comm, SerialComm)
        local_rank, local_size = _node_layout(comm, has_mpi)
        return cls(comm=comm, has_mpi=has_mpi, local_rank=local_rank, local_size=local_size,
                   device_request=device, hdf5_writer=hdf5_writer)

    @property
    def rank(self) -> int:
        """Rank of this process in ``comm``."""
        return self.comm.Get_rank()

    @property
    def size(self) -> int:
        """Number of processes in ``comm``."""
        return self.comm.Get_size()

    @property
    def is_root(self) -> bool:
        """True on rank 0 of ``comm``."""
        return self.rank == 0

    @property
    def device(self) -> str:
        """Torch device for this process.

        ``HPCML_DEVICE`` (e.g. ``cpu`` on a GPU node, or ``cuda:1``) wins over
        :attr:`device_request`; ``cpu`` is the CPU; ``cuda`` and ``auto`` pick
        ``cuda:<local_rank mod visible GPUs>``
        (:func:`hpcml.parallel.launcher.gpu_index`), and ``auto`` falls back
        to ``cpu`` without a GPU.

        Raises
        ------
        UserError
            For ``parallel.device: cuda`` when torch sees no GPU.
        """
        forced = os.environ.get("HPCML_DEVICE")
        if forced:
            return forced
        if self.device_request == "cpu":
            return "cpu"
        try:
            import torch
        except ImportError:
            torch = None
        n_gpu = torch.cuda.device_count() if torch and torch.cuda.is_available() else 0
        if n_gpu:
            return f"cuda:{launcher.gpu_index(self.local_rank, n_gpu)}"
        if self.device_request == "cuda":
            raise UserError("parallel.device is cuda but torch sees no GPU (CUDA_VISIBLE_"
                            f"DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}); "
                            "set parallel.device: auto or cpu, or run on a GPU node")
        return "cpu"

    def split(self, n_groups: int) -> Context:
        """Split the ranks into ``n_groups`` contiguous groups.

        Rank ``r`` of ``size`` joins group ``r * n_groups // size``, so group
        sizes differ by at most one.  Collective over ``comm``.

        Parameters
        ----------
        n_groups
            Number of groups, ``1 <= n_groups <= size``.

        Returns
        -------
        Context
            This process's group, with ``group``/``n_groups`` set and ``parent``
            pointing back here.
        """
        if not 1 <= n_groups <= self.size:
            raise ValueError(
                f"cannot split {self.size} rank(s) into {n_groups} groups: "
                f"n_groups must be between 1 and {self.size}; run more ranks "
                "or assign several items to each group"
            )
        color = self.rank * n_groups // self.size
        sub = self.comm.Split(color, self.rank)
        return Context(
            comm=sub,
            has_mpi=self.has_mpi,
            local_rank=self.local_rank,
            local_size=self.local_size,
            group=color,
            n_groups=n_groups,
            device_request=self.device_request,
            hdf5_writer=self.hdf5_writer,
            parent=self,
        )

    def describe(self) -> str:
        """One line naming the rank layout, for logs."""
        kind = "MPI" if self.has_mpi else "serial (no MPI)"
        return f"{self.size} rank(s), {kind}, device {self.device}"
