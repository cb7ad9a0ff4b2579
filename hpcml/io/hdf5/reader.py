"""Read frames and headers from a frame store.

Readers see only the first ``n_committed`` frames; rows past them (a killed
append's tail, or space allocated ahead) are ignored.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hpcml.errors import DataError
from hpcml.io.frames import Frames
from hpcml.io.hdf5 import layout
from hpcml.io.hdf5._h5 import load_h5py
from hpcml.io.keys import ATOM, KEYS


def store_info(path: str | os.PathLike) -> layout.StoreInfo:
    """Header of the store at ``path``.

    Returns
    -------
    StoreInfo
        ``path``, ``schema_version``, ``type_map``, ``keys``, ``n_committed``
        and ``n_atoms`` (atoms in the committed frames).

    Raises
    ------
    DataError
        When the file is missing, not an hpcml frame store, newer than this
        hpcml, or lacks a dataset.
    """
    with layout.open_store(load_h5py(), os.fspath(path)) as (_, info):
        return info


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique frame indices as ``[lo, hi)`` runs of consecutive frames."""
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(indices, breaks) if run.size]


def _read_run(f: Any, info: layout.StoreInfo, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Arrays of frames ``lo..hi-1``, checking ``atom_start`` against ``natoms``."""
    natoms = f["natoms"][lo:hi]
    starts = f[layout.ATOM_START][lo:hi]
    a0, a1 = int(starts[0]), int(starts[-1] + natoms[-1])
    expected = a0 + np.concatenate(([0], np.cumsum(natoms)[:-1]))
    if not np.array_equal(starts, expected) or a1 > info.n_atoms:
        raise DataError(f"{info.path}: dataset '/atom_start' disagrees with '/natoms' "
                        f"in frames {lo}..{hi - 1}; the file is damaged, rewrite it")
    return {k: f[k][a0:a1] if KEYS[k].per == ATOM else f[k][lo:hi] for k in info.keys}


def _frame_indices(info: layout.StoreInfo, indices: Any) -> np.ndarray:
    """Turn ``indices`` into validated frame indices (1-D int array)."""
    try:
        return np.arange(info.n_committed)[indices].reshape(-1)
    except IndexError as exc:
        raise IndexError(f"{info.path}: {exc} (the store has {info.n_committed} "
                         "committed frames)") from None


def read_frames(path: str | os.PathLike, indices: Any = None) -> Frames:
    """Read committed frames from a store.

    Parameters
    ----------
    path
        Store written by :mod:`hpcml.io.store`.
    indices
        Frame indices (ints, negative allowed, repeats and any order kept), a
        slice or a bool mask over the committed frames; None for all.

    Returns
    -------
    Frames
        Per-frame arrays (nf, ...) and per-atom arrays (na, ...), units as in
        :data:`hpcml.io.keys.KEYS`.

    Raises
    ------
    DataError
        For a file that is not a valid store, or damaged data.
    IndexError
        For indices outside the committed frames.
    """
    with layout.open_store(load_h5py(), os.fspath(path)) as (f, info):
        idx = np.arange(info.n_committed) if indices is None else _frame_indices(info, indices)
        uniq, inverse = np.unique(idx, return_inverse=True)
        runs = [_read_run(f, info, lo, hi) for lo, hi in _runs(uniq)]
    arrays = {k: np.concatenate([r[k] for r in runs]) if runs
              else np.zeros(KEYS[k].full_shape(0), KEYS[k].dtype) for k in info.keys}
    try:
        frames = Frames(info.type_map, arrays)
    except ValueError as exc:
        raise DataError(f"{info.path}: stored frames are invalid ({exc}); "
                        "rewrite the file") from exc
    return frames if indices is None else frames.select(inverse)
