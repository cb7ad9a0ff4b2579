"""Data-parallel gradient averaging over the ranks of a :class:`~hpcml.parallel.Context`.

The driver builds a :class:`GradientAverager` with :func:`make_averager` and
gives it to the trainer, which calls ``averager.average(params)`` after
``loss.backward()``.  Physics code never imports this module.  Backends:

- ``"mpi4py"`` (default): ``Allreduce(IN_PLACE, SUM)`` on ``ctx.comm``;
- ``"torch.distributed"``: a standalone Gloo (CPU) or NCCL (CUDA) process group
  over exactly the ranks of ``ctx.comm`` (:class:`TorchDistributedAverager`);
- ``"horovod"``: ``horovod.torch`` initialized on ``ctx.comm``.

All flatten the gradients into one buffer per dtype, reused between steps: one
collective per step.  A ``grad`` None counts as zeros (and gets a ``grad``),
so ranks that skipped a branch stay in step; ``requires_grad=False``
parameters are left out.  On one rank averaging is the identity and no
backend communicates (``grad`` None stays None).
"""

from __future__ import annotations

import atexit
import datetime
import difflib
import logging
import math
import os
import socket
import weakref
from collections.abc import Iterable
from typing import Any

import torch

from hpcml.errors import UserError
from hpcml.parallel import Context, collective_call

log = logging.getLogger(__name__)

BACKENDS = ("mpi4py", "torch.distributed", "horovod")
_ALIASES = {"mpi": "mpi4py", "torch": "torch.distributed", "hvd": "horovod"}
_LR_SCALES = {"none": lambda n: 1.0, "linear": float, "sqrt": math.sqrt}


def _by_dtype(tensors: Iterable[torch.Tensor]) -> dict[torch.dtype, list[torch.Tensor]]:
    """Group ``tensors`` by dtype, keeping their order within each group."""
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    return groups


def _pack(buf: torch.Tensor, tensors: list[torch.Tensor], grads: bool) -> None:
    """Copy ``tensors`` (or their grads; None as zeros) into ``buf`` end to end."""
    offset = 0
    for t in tensors:
        n = t.numel()
        src = t.grad if grads else t.detach()
        if src is None:
            buf[offset : offset + n].zero_()
        else:
            buf[offset : offset + n].view(t.shape).copy_(src)
        offset += n


def _unpack(buf: torch.Tensor, tensors: list[torch.Tensor], grads: bool) -> None:
    """Copy ``buf`` back into ``tensors`` (or their grads, created when None)."""
    offset = 0
    for t in tensors:
        part = buf[offset : offset + t.numel()].view(t.shape)
        if not grads:
            t.data.copy_(part)
        elif t.grad is None:
            t.grad = part.to(t.device, copy=True)
        else:
            t.grad.copy_(part)
        offset += t.numel()


class GradientAverager:
    """Average gradients and synchronize parameters over the ranks of ``ctx.comm``.

    Subclasses implement :meth:`_allreduce_mean_` and :meth:`_broadcast_` on a
    flat 1-D tensor.  Every method is collective over ``ctx.comm``, with the
    same shapes, dtypes and order of parameters on all ranks.

    Parameters
    ----------
    ctx
        The ranks to average over (the job, or one group of :meth:`Context.split`).

    Attributes
    ----------
    name : str
        Backend name as accepted by :func:`make_averager`.
    """

    name = "base"
    buffer_device = torch.device("cpu")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._buffers: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def _buffer(self, kind: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        """Flat 1-D buffer for ``kind`` and ``dtype``, reused while its size is unchanged."""
        buf = self._buffers.get((kind, dtype))
        if buf is None or buf.numel() != numel:
            buf = torch.empty(numel, dtype=dtype, device=self.buffer_device)
            self._buffers[kind, dtype] = buf
        return buf

    @property
    def active(self) -> bool:
        """False when averaging is the identity (one rank), so nothing is communicated."""
        return self.ctx.size > 1

    def average(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Replace each ``p.grad`` by its mean over the ranks, in place.

        Parameters
        ----------
        params
            The trained parameters (any shapes; float32 and/or float64), same
            order on every rank.  ``grad`` None counts as zeros (on more
            than one rank); parameters with ``requires_grad=False`` are skipped.
        """
        if not self.active:
            return
        trained = [p for p in params if p.requires_grad]
        for dtype, group in _by_dtype(trained).items():
            buf = self._buffer("grad", dtype, sum(p.numel() for p in group))
            _pack(buf, group, grads=True)
            self._allreduce_mean_(buf)
            _unpack(buf, group, grads=True)

    def broadcast_parameters(self, module: torch.nn.Module, root: int = 0) -> None:
        """Overwrite every rank's parameters and floating buffers with those of ``root``.

        Parameters
        ----------
        module
            Module with identical structure on every rank.
        root
            Rank of ``ctx.comm`` whose values are kept.
        """
        if not self.active:
            return
        tensors = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
        for dtype, group in _by_dtype(tensors).items():
            buf = self._buffer("param", dtype, sum(t.numel() for t in group))
            _pack(buf, group, grads=False)
            self._broadcast_(buf, root)
            _unpack(buf, group, grads=False)

    def allreduce_mean(self, x: float) -> float:
        """Mean of the scalar ``x`` over the ranks (for losses and metrics)."""
        if not self.active:
            return float(x)
        buf = torch.tensor([float(x)], dtype=torch.float64, device=self.buffer_device)
        self._allreduce_mean_(buf)
        return float(buf.item())

    def close(self) -> None:
        """Release the backend's resources (collective); the averager is unusable after."""

    def _allreduce_mean_(self, buf: torch.Tensor) -> None:
        """Replace the 1-D tensor ``buf`` by its mean over the ranks, in place."""
        raise NotImplementedError

    def _broadcast_(self, buf: torch.Tensor, root: int) -> None:
        """Overwrite the 1-D tensor ``buf`` with ``root``'s, in place."""
        raise NotImplementedError


class Mpi4pyAverager(GradientAverager):
    """Average with ``comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)`` on ``ctx.comm``.

    The buffers live in host memory (gradients on a GPU are staged through it).
    On a :class:`~hpcml.parallel.SerialComm` or a size-1 communicator every
    method returns at once.
    """

    name = "mpi4py"

    def _allreduce_mean_(self, buf: torch.Tensor) -> None:
        from mpi4py import MPI

        self.ctx.comm.Allreduce(MPI.IN_PLACE, buf.numpy(), op=MPI.SUM)
        buf.div_(self.ctx.size)

    def _broadcast_(self, buf: torch.Tensor, root: int) -> None:
        self.ctx.comm.Bcast(buf.numpy(), root=root)


def _rendezvous_host(ctx: Context) -> str:
    """Address of ``ctx``'s rank 0 that the other ranks connect to (collective).

    ``127.0.0.1`` when all ranks share a host; otherwise ``HPCML_DIST_ADDR``,
    or ``MASTER_ADDR`` for a whole-job Context, or rank 0's host name.
    """
    hosts = ctx.comm.allgather(socket.gethostname())
    if len(set(hosts)) == 1:
        return "127.0.0.1"
    forced = os.environ.get("HPCML_DIST_ADDR") or (
        os.environ.get("MASTER_ADDR") if ctx.parent is None else None
    )
    return ctx.comm.bcast(forced or hosts[0], root=0)


def _rendezvous(ctx: Context, timeout: datetime.timedelta) -> tuple[Any, str]:
    """``(store, host)``: a TCPStore served by rank 0 on a free port (collective)."""
    import torch.distributed as dist

    host = _rendezvous_host(ctx)
    store = collective_call(ctx, lambda: dist.TCPStore(
        host, 0, None, True, timeout, wait_for_workers=False) if ctx.is_root else None)
    port = ctx.comm.bcast(store.port if ctx.is_root else None, root=0)
    if not ctx.is_root:
        store = dist.TCPStore(host, port, None, False, timeout)
    return store, host


def _gloo_group(ctx: Context, store: Any, host: str, timeout: datetime.timedelta) -> Any:
    """Gloo group over ``ctx``; loopback transport when all ranks share a host.

    Otherwise Gloo's default device (the host name, or ``GLOO_SOCKET_IFNAME``).
    """
    import torch.distributed as dist

    if host != "127.0.0.1":
        return dist.ProcessGroupGloo(store, ctx.rank, ctx.size, timeout)
    opts = dist.ProcessGroupGloo._Options()
    opts._timeout = timeout
    opts._devices = [dist.ProcessGroupGloo.create_device(hostname=host)]
    return dist.ProcessGroupGloo(store, ctx.rank, ctx.size, opts)


class TorchDistributedAverager(GradientAverager):
    """Average with a standalone ``torch.distributed`` process group (Gloo or NCCL).

    The group is built directly (``ProcessGroupGloo(store, rank, size)``) over
    exactly the ranks of ``ctx.comm``, with ``ctx.rank``/``ctx.size``; the
    default process group is never initialized, so sub-communicators from
    :meth:`Context.split` get independent groups without any collective over
    the whole job.  Rendezvous: rank 0 opens a ``TCPStore`` on a free port
    (port 0, chosen by the OS) and broadcasts host and port over ``ctx.comm``.

    Parameters
    ----------
    ctx
        The ranks to average over.
    device
        ``"cpu"`` selects Gloo with host buffers; a CUDA device selects NCCL
        with buffers on that device.  Default: ``ctx.device``.
    timeout_s
        Time limit of the rendezvous and of each collective, in seconds
        (default ``HPCML_DIST_TIMEOUT`` or 300).
    """

    name = "torch.distributed"

    def __init__(self, ctx: Context, device: str | None = None, timeout_s: float | None = None):
        import torch.distributed as dist

        device_ = torch.device(device or ctx.device)
        if device_.type == "cuda" and not dist.is_nccl_available():
            log.warning("torch.distributed: no NCCL in this torch build; using Gloo on the host")
            device_ = torch.device("cpu")
        self.backend = "nccl" if device_.type == "cuda" else "gloo"
        self.buffer_device = device_ if device_.type == "cuda" else torch.device("cpu")
        super().__init__(ctx)
        timeout_s = timeout_s or float(os.environ.get("HPCML_DIST_TIMEOUT", "300"))
        timeout = datetime.timedelta(seconds=timeout_s)
        self._store, host = _rendezvous(ctx, timeout)
        if self.backend == "nccl":
            torch.cuda.set_device(device_)
            self._pg = dist.ProcessGroupNCCL(self._store, ctx.rank, ctx.size)
        else:
            self._pg = _gloo_group(ctx, self._store, host, timeout)
        _OPEN_GROUPS.add(self)
        log.debug("torch.distributed %s group of %d rank(s) via %s", self.backend, ctx.size, host)

    @property
    def active(self) -> bool:
        """True while the process group is open and has more than one rank."""
        return self._pg is not None and self.ctx.size > 1

    def _allreduce_mean_(self, buf: torch.Tensor) -> None:
        import torch.distributed as dist

        opts = dist.AllreduceOptions()
        opts.reduceOp = dist.ReduceOp.SUM
        self._pg.allreduce([buf], opts).wait()
        buf.div_(self.ctx.size)

    def _broadcast_(self, buf: torch.Tensor, root: int) -> None:
        import torch.distributed as dist

        opts = dist.BroadcastOptions()
        opts.rootRank, opts.rootTensor = root, 0
        self._pg.broadcast([buf], opts).wait()

    def close(self) -> None:
        """Shut the process group down and drop the store (collective)."""
        if self._pg is not None:
            self.ctx.comm.barrier()
            self._release()

    def _release(self) -> None:
        """Shut down and destroy the group now (rank-local; also at exit, see below)."""
        if self._pg is not None:
            self._pg.shutdown()
            self._pg = self._store = None
            _OPEN_GROUPS.discard(self)


_OPEN_GROUPS: weakref.WeakSet[TorchDistributedAverager] = weakref.WeakSet()


@atexit.register
def _release_open_groups() -> None:
    """Release the groups left open: one alive at finalization aborts the process.

    (Gloo's worker threads cannot take the GIL while the interpreter shuts down.)
    """
    for averager in list(_OPEN_GROUPS):
        averager._release()


_HOROVOD = {"comm": None, "users": 0}


def _import_horovod() -> Any:
    """``horovod.torch``, imported after ``mpi4py.MPI``.

    ``HOROVOD_CYCLE_TIME`` defaults to 2 ms: training does one fused allreduce
    per step, and a short cycle makes Horovod's background thread spin and
    take a core from the compute when the ranks fill the cores (measured on 2
    cores, 2 ranks: efficiency 0.53 at 0.1 ms, 0.88 at 2 ms).  Set it lower
    for latency-bound use.
    """
    os.environ.setdefault("HOROVOD_CYCLE_TIME", "2")  # ms
    import mpi4py.MPI  # noqa: F401  (must be loaded before Horovod's MPI library)

    # isort: split
    import horovod.torch as hvd

    return hvd


class HorovodAverager(GradientAverager):
    """Average with ``horovod.torch`` initialized on ``ctx.comm``.

    Horovod keeps one communicator per process: averagers on the same (or a
    congruent) communicator share it, and the last :meth:`close` shuts Horovod
    down so that another communicator can be used.  Needs a real MPI
    communicator; on a SerialComm every method returns at once.
    """

    name = "horovod"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._hvd = _import_horovod()
        self._open = ctx.has_mpi
        if ctx.has_mpi:
            self._acquire()

    @property
    def active(self) -> bool:
        """True while Horovod is initialized for this averager on more than one rank."""
        return self._open and self.ctx.size > 1

    def _acquire(self) -> None:
        from mpi4py import MPI

        comm = _HOROVOD["comm"]
        if comm is None:
            self._hvd.init(comm=self.ctx.comm)
            _HOROVOD["comm"] = self.ctx.comm
        elif MPI.Comm.Compare(comm, self.ctx.comm) not in (MPI.IDENT, MPI.CONGRUENT):
            raise RuntimeError("Horovod is already initialized on another communicator; close() "
                               "that averager first (Horovod holds one communicator per process)")
        _HOROVOD["users"] += 1

    def _allreduce_mean_(self, buf: torch.Tensor) -> None:
        self._hvd.allreduce_(buf, op=self._hvd.Average, name=f"hpcml.avg.{buf.dtype}")

    def _broadcast_(self, buf: torch.Tensor, root: int) -> None:
        self._hvd.broadcast_(buf, root_rank=root, name=f"hpcml.bcast.{buf.dtype}")

    def close(self) -> None:
        """Release Horovod; the last user on this communicator shuts it down (collective)."""
        if not self._open:
            return
        self._open = False
        _HOROVOD["users"] -= 1
        if _HOROVOD["users"] == 0:
            self._hvd.shutdown()
            _HOROVOD["comm"] = None


def _torch_distributed_missing() -> str | None:
    """Why the torch.distributed backend cannot run here, or None."""
    import torch.distributed as dist

    if not dist.is_available():
        return "this torch build has no torch.distributed (is_available() is False)"
    if not dist.is_gloo_available():
        return "this torch build has no Gloo backend (is_gloo_available() is False)"
    return None


def _horovod_missing() -> str | None:
    """Why the horovod backend cannot run here, or None."""
    try:
        _import_horovod()
    except (ImportError, OSError) as exc:
        return f"horovod.torch does not import ({exc})"
    return None


def available_backends() -> list[str]:
    """Names of the backends that can run in this environment, default first."""
    found = ["mpi4py"]
    if _torch_distributed_missing() is None:
        found.append("torch.distributed")
    if _horovod_missing() is None:
        found.append("horovod")
    return found


def _resolve(backend: str) -> str:
    """Canonical backend name, or a UserError with a did-you-mean hint."""
    name = _ALIASES.get(backend.strip().lower(), backend.strip().lower())
    if name in BACKENDS:
        return name
    close = difflib.get_close_matches(name, [*BACKENDS, *_ALIASES], n=1, cutoff=0.5)
    hint = f"did you mean '{_ALIASES.get(close[0], close[0])}'? " if close else ""
    raise UserError(
        f"unknown distributed training backend '{backend}'; {hint}"
        f"valid backends: {', '.join(BACKENDS)}"
    )


def _require(name: str) -> None:
    """Raise a UserError saying how to install backend ``name`` when it cannot run here."""
    if name == "torch.distributed" and (missing := _torch_distributed_missing()):
        raise UserError(f"backend 'torch.distributed' is not usable: {missing}; "
                        "install a torch build with distributed support or use 'mpi4py'")
    if name == "horovod" and (missing := _horovod_missing()):
        raise UserError(
            f"backend 'horovod' is not installed: {missing}; build it with "
            "`bash launch/build-horovod.sh` (or `pip install -e .[horovod]`, "
            "`HPCML_EXTRAS=test,horovod make test`), or use 'mpi4py'"
        )


def make_averager(ctx: Context, backend: str = "mpi4py") -> GradientAverager:
    """Build the gradient averager ``backend`` over the ranks of ``ctx`` (collective).

    Parameters
    ----------
    ctx
        The ranks to average over.
    backend
        ``"mpi4py"`` (default), ``"torch.distributed"`` or ``"horovod"``
        (aliases ``mpi``, ``torch``, ``hvd``).

    Raises
    ------
    UserError
        For an unknown backend, or one that is not installed.
    """
    name = _resolve(backend)
    collective_call(ctx, _require, name)  # all ranks raise if one lacks the backend
    if name == "torch.distributed":
        return TorchDistributedAverager(ctx)
    if name == "horovod":
        return HorovodAverager(ctx)
    return Mpi4pyAverager(ctx)


def scaled_lr(lr: float, n_workers: int, rule: str = "linear") -> float:
    """Learning rate scaled for ``n_workers`` data-parallel workers.

    Parameters
    ----------
    lr
        Learning rate tuned for one worker.
    n_workers
        Number of workers whose gradients are averaged (>= 1).
    rule
        ``"none"`` (``lr``), ``"linear"`` (``lr * n``, Goyal et al. 2017) or
        ``"sqrt"`` (``lr * sqrt(n)``); DeePMD-kit's ``scale_by_worker`` offers the same three.

    Returns
    -------
    float
        The scaled learning rate.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if rule not in _LR_SCALES:
        raise ValueError(f"unknown learning-rate scaling rule '{rule}'; "
                         f"valid: {', '.join(_LR_SCALES)}")
    return lr * _LR_SCALES[rule](n_workers)
