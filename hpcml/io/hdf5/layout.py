"""Layout of an hpcml frame store (HDF5) and the checks made when opening one.

File layout (schema_version 1)::

    /                 attrs: format="hpcml-frames", schema_version=1,
                             type_map (element names), keys (stored keys),
                             n_committed (frames readers may see)
    /<frame key>      (capacity_f, *shape) chunked, resizable; attrs unit, doc
    /<atom key>       (capacity_a, *shape) chunked, resizable; attrs unit, doc
    /atom_start       (capacity_f,) int64: first atom row of each frame

Datasets may hold more rows than ``n_committed`` frames: space is allocated
ahead (by 1.5x) and a killed append leaves a tail that readers ignore and the
next append overwrites.  Chunks are allocated when a dataset is extended
(``H5D_ALLOC_TIME_EARLY``), so an append that fits the capacity writes raw
data only and changes no HDF5 metadata besides ``n_committed``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from hpcml.errors import DataError
from hpcml.io.keys import ATOM, FRAME, KEYS, KeySpec, normalize_keys

FORMAT = "hpcml-frames"
SCHEMA_VERSION = 1
ATOM_START = "atom_start"
CHUNK_BYTES = 64 * 1024
GROWTH = 1.5
ATOM_START_SPEC = KeySpec(ATOM_START, FRAME, (), "int64", "1",
                          "row of the frame's first atom in the per-atom datasets")


@dataclass(frozen=True)
class StoreInfo:
    """Header of a frame store.

    Attributes
    ----------
    path
        File name.
    schema_version
        Layout version written in the file.
    type_map
        Element name of each atom type.
    keys
        Frame keys stored, in table order.
    n_committed
        Number of frames readers see.
    n_atoms
        Number of atoms in those frames.
    """

    path: str
    schema_version: int
    type_map: list[str]
    keys: tuple[str, ...]
    n_committed: int
    n_atoms: int


def spec_of(name: str) -> KeySpec:
    """KeySpec of a dataset name (a frame key or ``atom_start``)."""
    return ATOM_START_SPEC if name == ATOM_START else KEYS[name]


def _strings(value: Any) -> list[str]:
    """Convert a string-array attribute to a list of str."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(value)]


def create_layout(h5py: ModuleType, f: Any, type_map: list[str], keys: tuple) -> None:
    """Write the root attributes and the empty datasets of a new store into ``f``."""
    text = h5py.string_dtype()
    f.attrs["format"] = FORMAT
    f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
    f.attrs["type_map"] = np.array(type_map, dtype=text)
    f.attrs["keys"] = np.array(keys, dtype=text)
    f.attrs["n_committed"] = np.int64(0)
    for name in (*keys, ATOM_START):
        spec = spec_of(name)
        row_bytes = spec.np_dtype.itemsize * int(np.prod(spec.shape, dtype=np.int64))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dset = f.create_dataset(
            name, shape=spec.full_shape(0), dtype=spec.dtype, dcpl=dcpl,
            maxshape=(None, *spec.shape),
            chunks=spec.full_shape(max(1, CHUNK_BYTES // row_bytes)),
        )
        dset.attrs["unit"] = spec.unit
        dset.attrs["doc"] = spec.doc


def new_store(h5py: ModuleType, path: str, type_map: list[str], keys: tuple) -> None:
    """Create a store at ``path`` via ``path.tmp`` and an atomic rename."""
    tmp = f"{path}.tmp"
    with h5py.File(tmp, "w") as f:
        create_layout(h5py, f, type_map, keys)
    os.replace(tmp, path)


def _fail(path: str, what: str, fix: str) -> DataError:
    """DataError naming the file, the problem and the fix."""
    return DataError(f"{path}: {what}; {fix}")


def _check_rows(f: Any, path: str, names: list[str], rows: int) -> None:
    """Raise DataError unless every dataset in ``names`` has ``rows`` rows or more."""
    for name in names:
        if f[name].shape[0] < rows:
            raise _fail(path, f"dataset '/{name}' has {f[name].shape[0]} rows but "
                        f"{rows} are committed", "the file is truncated; rewrite it")


def _check_datasets(f: Any, path: str, keys: tuple, n: int) -> int:
    """Check every dataset exists and holds the committed rows; return n_atoms."""
    names = [*keys, ATOM_START]
    for name in names:
        if name not in f:
            raise _fail(path, f"missing dataset '/{name}' ({spec_of(name).doc})",
                        "the file is damaged or not written by hpcml; rewrite it")
    _check_rows(f, path, [k for k in names if spec_of(k).per == FRAME], n)
    n_atoms = committed_atoms(f, n)
    _check_rows(f, path, [k for k in names if spec_of(k).per == ATOM], n_atoms)
    return n_atoms


def committed_atoms(f: Any, n: int) -> int:
    """Count the atoms in the first ``n`` frames of open store ``f``."""
    if n == 0:
        return 0
    return int(f[ATOM_START][n - 1]) + int(f["natoms"][n - 1])


def read_header(f: Any, path: str) -> StoreInfo:
    """Validate the root of open store ``f`` and return its header.

    Raises
    ------
    DataError
        When the file is not an hpcml frame store, has a newer schema_version,
        lists unknown keys, or lacks a dataset.
    """
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt != FORMAT:
        raise _fail(path, f"not an hpcml frame file (root attribute format={fmt!r}, "
                    f"expected {FORMAT!r})", "convert it with hpcml.io.read_any "
                    "and hpcml.io.store.write_frames")
    version = int(f.attrs.get("schema_version", -1))
    if version > SCHEMA_VERSION:
        raise _fail(path, f"schema_version {version} is newer than this hpcml "
                    f"reads ({SCHEMA_VERSION})", "upgrade hpcml")
    keys = tuple(_strings(f.attrs.get("keys", [])))
    if not keys or keys != normalize_keys(k for k in keys if k in KEYS):
        raise _fail(path, f"root attribute 'keys'={list(keys)} is invalid",
                    f"expected names from {list(KEYS)}; rewrite the file")
    n = int(f.attrs.get("n_committed", -1))
    if n < 0:
        raise _fail(path, "root attribute 'n_committed' is missing", "rewrite the file")
    n_atoms = _check_datasets(f, path, keys, n)
    return StoreInfo(path, version, _strings(f.attrs["type_map"]), keys, n, n_atoms)


@contextmanager
def open_store(h5py: ModuleType, path: str, mode: str = "r",
               **kwargs: Any) -> Iterator[tuple[Any, StoreInfo]]:
    """Open ``path`` (extra ``kwargs`` go to ``h5py.File``) and yield ``(f, info)``.

    Raises
    ------
    DataError
        When the file is missing, not HDF5, or fails :func:`read_header`.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: no such frame store; create it with "
                        "hpcml.io.store.create_store or check the path")
    try:
        f = h5py.File(path, mode, **kwargs)
    except OSError as exc:
        raise DataError(f"{path}: cannot open as HDF5 ({exc}); is it an hpcml "
                        "frame store written by hpcml.io.store?") from exc
    with f:
        yield f, read_header(f, path)


def ensure_capacity(f: Any, keys: tuple, n_frames: int, n_atoms: int) -> None:
    """Grow the datasets of ``f`` to hold ``n_frames`` frames and ``n_atoms`` atoms.

    A dataset that must grow gets ``max(needed, 1.5 * current)`` rows.  With
    the MPI driver every rank must call this with the same arguments.
    """
    for name in (*keys, ATOM_START):
        dset = f[name]
        need = n_atoms if spec_of(name).per == ATOM else n_frames
        if dset.shape[0] < need:
            dset.resize(max(need, int(dset.shape[0] * GROWTH)), axis=0)


def write_rows(f: Any, arrays: dict[str, np.ndarray], frame0: int, atom0: int) -> None:
    """Write per-frame rows at ``frame0`` and per-atom rows at ``atom0``.

    ``arrays`` must include ``atom_start`` (global rows).  Empty arrays are
    skipped, so under the MPI driver a rank with no frames writes nothing.
    """
    for name, arr in arrays.items():
        start = atom0 if spec_of(name).per == ATOM else frame0
        if len(arr):
            f[name][start:start + len(arr)] = arr


def commit(f: Any, n_committed: int) -> None:
    """Flush the data, then publish ``n_committed`` (in place) and flush again."""
    f.flush()
    f.attrs.modify("n_committed", np.int64(n_committed))
    f.flush()
