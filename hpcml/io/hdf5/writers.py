"""Append strategies for the frame store: ``serial``, ``gather`` and ``mpio``.

Every writer follows the same kill-safe order: open, extend the datasets,
write the new rows after the committed ones, flush, *then* raise the
``n_committed`` attribute and flush again (:func:`layout.commit`).  A writer
is a function ``(path, frames, ctx) -> n_committed`` in :data:`WRITERS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from hpcml.io.frames import Frames
from hpcml.io.hdf5 import layout
from hpcml.io.hdf5._h5 import has_mpio, load_h5py, require_mpio
from hpcml.io.keys import unknown_name_message
from hpcml.parallel import Context, collective_call, slab_offsets

_log = logging.getLogger(__name__)

Writer = Callable[[str, Frames, Context], int]
#: Registered writers by name.
WRITERS: dict[str, Writer] = {}


def register_writer(name: str) -> Callable[[Writer], Writer]:
    """Add the decorated writer function to :data:`WRITERS` under ``name``."""
    def add(fn: Writer) -> Writer:
        WRITERS[name] = fn
        return fn
    return add


def get_writer(name: str) -> Writer:
    """Return the writer called ``name``.

    Raises
    ------
    ValueError
        For an unknown name, with a "did you mean" hint.
    """
    if name not in WRITERS:
        raise ValueError(unknown_name_message("HDF5 writer", name, [*WRITERS, "auto"]))
    return WRITERS[name]


def resolve_writer(ctx: Context, name: str = "auto") -> str:
    """Name of the writer ``"auto"`` stands for on ``ctx``; other names pass through.

    ``auto`` is ``serial`` on one rank; on several, what the Context was built
    with (config ``parallel.hdf5_writer``, :attr:`hpcml.parallel.Context.hdf5_writer`)
    unless that is ``auto`` too; then ``mpio`` when ``ctx`` has MPI and h5py has MPI
    support, ``gather`` otherwise.
    """
    if name != "auto":
        get_writer(name)
        return name
    if ctx.size == 1:
        return "serial"
    configured = getattr(ctx, "hdf5_writer", "auto")
    if configured != "auto":
        get_writer(configured)
        return configured
    if ctx.has_mpi and has_mpio(load_h5py(prefer_mpi=True)):
        return "mpio"
    _log.info("h5py has no MPI support: appending with the 'gather' writer")
    return "gather"


def conform(frames: Frames, info: layout.StoreInfo) -> Frames:
    """``frames`` re-indexed to the store's type_map after checking their keys.

    Zero frames conform whatever their keys.

    Raises
    ------
    ValueError
        When keys differ from the store's, or an element is not in its type_map.
    """
    if frames.n_frames == 0:
        return Frames.empty(info.type_map, info.keys)
    if frames.keys != info.keys:
        raise ValueError(
            f"{info.path}: the store holds keys {list(info.keys)}, the frames carry "
            f"{list(frames.keys)}; add or drop keys to match (keys are fixed at "
            "create_store)")
    if frames.type_map == info.type_map:
        return frames
    try:
        return frames.with_type_map(info.type_map)
    except ValueError as exc:
        raise ValueError(f"{info.path}: {exc}; create the store with a type_map "
                         "listing every element") from None


def _rows(frames: Frames, atom0: int) -> dict[str, np.ndarray]:
    """Return the arrays of ``frames`` plus their global ``atom_start``."""
    return {**frames.arrays, layout.ATOM_START: atom0 + frames.atom_start}


def _conform_part(frames: Frames, info: layout.StoreInfo, rank: int, n_parts: int) -> Frames:
    """:func:`conform` for the frames gathered from ``rank``, naming it on error."""
    try:
        return conform(frames, info)
    except ValueError as exc:
        if n_parts == 1:
            raise
        raise ValueError(f"frames from rank {rank}: {exc}") from None


def _append_local(path: str, parts: list[Frames]) -> int:
    """Append ``parts`` in order with this process alone; return n_committed."""
    h5py = load_h5py()
    with layout.open_store(h5py, path, "r+") as (f, info):
        frames = Frames.concat([_conform_part(p, info, r, len(parts))
                                for r, p in enumerate(parts)])
        n, n_atoms = info.n_committed + frames.n_frames, info.n_atoms + frames.n_atoms
        layout.ensure_capacity(f, info.keys, n, n_atoms)
        layout.write_rows(f, _rows(frames, info.n_atoms), info.n_committed, info.n_atoms)
        layout.commit(f, n)
    return n


@register_writer("serial")
def write_serial(path: str, frames: Frames, ctx: Context) -> int:
    """Append from a single rank (``ctx.size`` must be 1)."""
    if ctx.size != 1:
        raise ValueError(f"writer 'serial' runs on one rank, not {ctx.size}; "
                         "use writer='gather' or 'mpio'")
    return _append_local(path, [frames])


@register_writer("gather")
def write_gather(path: str, frames: Frames, ctx: Context) -> int:
    """Gather every rank's frames to rank 0, which appends them in rank order."""
    parts = ctx.comm.gather(frames, root=0)
    n = collective_call(ctx, _append_local if ctx.is_root else lambda *_: 0, path, parts)
    return ctx.comm.bcast(n, root=0)


def _mpio_slab(f: object, info: layout.StoreInfo, frames: Frames, ctx: Context) -> int:
    """Extend (collectively), write this rank's slab, commit; return n_committed."""
    frame_off, nf = slab_offsets(ctx, frames.n_frames)
    atom_off, na = slab_offsets(ctx, frames.n_atoms)
    n = info.n_committed + nf
    layout.ensure_capacity(f, info.keys, n, info.n_atoms + na)
    atom0 = info.n_atoms + atom_off
    layout.write_rows(f, _rows(frames, atom0), info.n_committed + frame_off, atom0)
    layout.commit(f, n)
    return n


@register_writer("mpio")
def write_mpio(path: str, frames: Frames, ctx: Context) -> int:
    """Every rank opens the file with ``driver='mpio'`` and writes its own slab."""
    if not ctx.has_mpi:
        raise ValueError("writer 'mpio' needs an MPI Context; use 'serial' or 'gather'")
    h5py = collective_call(ctx, require_mpio)
    with layout.open_store(h5py, path, "r+", driver="mpio", comm=ctx.comm) as (f, info):
        local = collective_call(ctx, conform, frames, info)
        return _mpio_slab(f, info, local, ctx)
