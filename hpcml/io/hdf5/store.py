"""Create, append to and write whole frame stores (collective over a Context).

All functions take an optional :class:`~hpcml.parallel.Context`; without one
they run serially.  With several ranks every rank must call them together.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from hpcml.errors import DataError
from hpcml.io.frames import Frames
from hpcml.io.hdf5 import layout
from hpcml.io.hdf5._h5 import load_h5py
from hpcml.io.hdf5.reader import store_info
from hpcml.io.hdf5.writers import get_writer, resolve_writer
from hpcml.io.keys import normalize_keys
from hpcml.parallel import Context, collective_call

_log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def _context(ctx: Context | None) -> Context:
    """``ctx``, or a serial Context when None."""
    return ctx if ctx is not None else Context.create(serial=True)


def _check_type_map(type_map: Sequence[str]) -> list[str]:
    """Validate a type_map: non-empty, unique names."""
    names = [str(t) for t in type_map]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"type_map must list distinct element names, got {names}")
    return names


def _create_on_root(path: str, type_map: list[str], keys: tuple, exist_ok: bool) -> None:
    """Create the store, or check an existing one when ``exist_ok``."""
    if not os.path.exists(path):
        layout.new_store(load_h5py(), path, type_map, keys)
        _log.debug("created frame store %s with keys %s", path, keys)
        return
    if not exist_ok:
        raise DataError(f"{path}: already exists; pass exist_ok=True to append to "
                        "it, or remove it")
    info = store_info(path)
    if (info.type_map, info.keys) != (type_map, keys):
        raise DataError(f"{path}: exists with type_map {info.type_map} and keys "
                        f"{list(info.keys)}, not {type_map} and {list(keys)}; "
                        "use another file name")


def create_store(path: PathLike, type_map: Sequence[str], keys: Iterable[str] = (),
                 ctx: Context | None = None, exist_ok: bool = False) -> layout.StoreInfo:
    """Create an empty frame store (collective; rank 0 writes it).

    Parameters
    ----------
    path
        File to create.  It appears atomically (written as ``path.tmp`` first).
    type_map
        Element name of each atom type, e.g. ``["O", "H"]``.
    keys
        Frame keys to store; the required ones (natoms, cell, coord, atype)
        are added.  Fixed for the life of the store.
    ctx
        Context of the calling ranks; None for serial.
    exist_ok
        Accept an existing store with the same type_map and keys.

    Returns
    -------
    StoreInfo
        Header of the store.

    Raises
    ------
    DataError
        When ``path`` exists (and not ``exist_ok``) or differs in type_map/keys.
    """
    ctx, path = _context(ctx), os.fspath(path)
    args = (path, _check_type_map(type_map), normalize_keys(keys), exist_ok)
    collective_call(ctx, _create_on_root if ctx.is_root else lambda *_: None, *args)
    return store_info(path)


def append_frames(path: PathLike, frames: Frames, ctx: Context | None = None,
                  writer: str = "auto") -> int:
    """Append frames after the committed ones (collective when ``ctx`` has ranks).

    Each rank passes its local frames (possibly none); they land in rank
    order.  Frames are re-indexed to the store's type_map; their keys must be
    the store's (zero frames may carry any keys).

    Parameters
    ----------
    path
        An existing store (see :func:`create_store`).
    frames
        This rank's frames: per-frame arrays (nf, ...), per-atom (na, ...).
    ctx
        Context of the calling ranks; None for serial.
    writer
        ``"auto"``, ``"mpio"``, ``"gather"`` or ``"serial"``
        (see :func:`hpcml.io.hdf5.writers.resolve_writer`).

    Returns
    -------
    int
        ``n_committed`` after the append, on every rank.
    """
    ctx = _context(ctx)
    name = resolve_writer(ctx, writer)
    _log.debug("appending %d frame(s) to %s with writer %r", len(frames), path, name)
    return get_writer(name)(os.fspath(path), frames, ctx)


def _common_layout(ctx: Context, frames: Frames) -> tuple[list[str], tuple]:
    """Type_map (union, rank order) and keys shared by all ranks' frames."""
    layouts = ctx.comm.allgather((frames.n_frames, frames.type_map, frames.keys))
    used = [lay for lay in layouts if lay[0] > 0] or layouts
    type_map = [t for lay in used for t in lay[1]]
    keys = {lay[2] for lay in used}
    if len(keys) > 1:
        raise ValueError(f"write_frames: ranks carry different keys {sorted(keys)}")
    return list(dict.fromkeys(type_map)), keys.pop()


def _replace_on_root(ctx: Context, src: str, dst: str | None) -> None:
    """On rank 0: rename ``src`` to ``dst``, or remove ``src`` when ``dst`` is None."""
    if ctx.is_root and os.path.exists(src):
        os.replace(src, dst) if dst else os.remove(src)


def write_frames(path: PathLike, frames: Frames, ctx: Context | None = None,
                 writer: str = "auto") -> layout.StoreInfo:
    """Write a new store holding ``frames`` in one shot, replacing ``path`` atomically.

    The store is built as ``path.tmp`` and renamed, so ``path`` is either the
    old file or the complete new one.  Collective: each rank passes its local
    frames, which land in rank order.

    Parameters
    ----------
    path
        File to (re)write.
    frames
        This rank's frames.
    ctx, writer
        As for :func:`append_frames`.

    Returns
    -------
    StoreInfo
        Header of the new store.
    """
    ctx, path = _context(ctx), os.fspath(path)
    type_map, keys = _common_layout(ctx, frames)
    tmp = f"{path}.tmp"
    collective_call(ctx, _replace_on_root, ctx, tmp, None)
    create_store(tmp, type_map, keys, ctx)
    append_frames(tmp, frames, ctx, writer)
    collective_call(ctx, _replace_on_root, ctx, tmp, path)
    return store_info(path)
