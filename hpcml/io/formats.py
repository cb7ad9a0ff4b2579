"""Format registry: :func:`read_any` picks a reader by name or from the path.

Formats (ASE ``io/formats.py`` style, one entry each):

===============  =========================================  ===========================
name             what                                       detected by
===============  =========================================  ===========================
``deepmd/npy``   DeePMD-kit system directory                ``type.raw`` inside
``deepmd/hdf5``  DeePMD-kit systems in one HDF5 file        ``FILE.h5#/GROUP``, or an
                 (:mod:`hpcml.io.deepmd_hdf5`)              HDF5 file with ``type.raw``
``hdf5``         hpcml frame store                          ``.h5``/``.hdf5`` or HDF5 signature
``extxyz``       extended XYZ (hand-written fast reader)    ``.xyz``/``.extxyz``
``ase``          anything ASE reads: POSCAR, CIF, LAMMPS    any other file, when ASE is
                 data, traj, ... (:mod:`hpcml.io.ase_bridge`) installed
===============  =========================================  ===========================

A path with glob characters (``iter.*/02.fp/data.*``, DP-GEN's labeled data)
reads every match, in sorted order, as one set of frames.  :func:`write_any`
writes ``deepmd/npy``, ``deepmd/hdf5``, ``hdf5`` and ``extxyz``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from hpcml.errors import DataError
from hpcml.io.checks import bad_values
from hpcml.io.frames import Frames
from hpcml.io.keys import unknown_name_message

Reader = Callable[[Path, "Sequence[str] | None"], Frames]
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _read_deepmd(path: Path, type_map: Sequence[str] | None) -> Frames:
    from hpcml.io.deepmd import read_deepmd_npy

    return read_deepmd_npy(path, type_map)


def _read_hdf5(path: Path, type_map: Sequence[str] | None) -> Frames:
    from hpcml.io.hdf5.reader import read_frames

    frames = read_frames(path)
    return frames if type_map is None else frames.with_type_map(type_map)


def _read_extxyz(path: Path, type_map: Sequence[str] | None) -> Frames:
    from hpcml.io.extxyz import read_extxyz

    return read_extxyz(path, type_map)


def _read_deepmd_hdf5(path: Path, type_map: Sequence[str] | None) -> Frames:
    from hpcml.io.deepmd_hdf5 import read_deepmd_hdf5

    return read_deepmd_hdf5(path, type_map)


def _read_ase(path: Path, type_map: Sequence[str] | None) -> Frames:
    from hpcml.io.ase_bridge import read_ase

    return read_ase(path, type_map)


#: Readers by format name.
READERS: dict[str, Reader] = {
    "deepmd/npy": _read_deepmd,
    "deepmd/hdf5": _read_deepmd_hdf5,
    "hdf5": _read_hdf5,
    "extxyz": _read_extxyz,
    "ase": _read_ase,
}


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of ``path`` (see the module table).

    Raises
    ------
    DataError
        When ``path`` does not exist or its format is not recognised.
    """
    from hpcml.io.ase_bridge import ase_available
    from hpcml.io.deepmd_hdf5 import is_deepmd_hdf5, split_path

    if "#" in str(path) and split_path(path)[0].is_file():
        return "deepmd/hdf5"
    path = Path(path)
    if path.is_dir() and (path / "type.raw").exists():
        return "deepmd/npy"
    if path.suffix.lower() in (".xyz", ".extxyz"):
        return "extxyz"
    if path.is_file():
        with path.open("rb") as fh:
            if path.suffix.lower() in (".h5", ".hdf5") or fh.read(8) == _HDF5_SIGNATURE:
                return "deepmd/hdf5" if is_deepmd_hdf5(path) else "hdf5"
        if ase_available():
            return "ase"
        from hpcml.errors import OPTIONAL_MODULES

        raise DataError(f"{path}: not a format hpcml reads itself (deepmd/npy, deepmd/hdf5, "
                        "hdf5, extxyz), and ASE, which reads POSCAR, CIF, LAMMPS data and "
                        f"more, is not installed: {OPTIONAL_MODULES['ase']}")
    what = "does not exist" if not path.exists() else "has an unknown format"
    raise DataError(f"{path}: {what}; pass fmt= one of {list(READERS)}")


def expand(path: str | os.PathLike) -> list[str]:
    """The matches of a glob pattern (sorted), or ``[path]`` for a plain path.

    Raises
    ------
    DataError
        When a pattern matches nothing.
    """
    text = str(path)
    if Path(text).exists() or not glob.has_magic(text.split("#", 1)[0]):
        return [text]
    found = sorted(glob.glob(text))
    if not found:
        raise DataError(f"{text}: the pattern matches no file or directory")
    return found


def read_any(path: str | os.PathLike, fmt: str = "auto",
             type_map: Sequence[str] | None = None) -> Frames:
    """Read frames from any supported format.

    Parameters
    ----------
    path
        File or directory, ``FILE.h5#/GROUP``, or a glob pattern (every match).
    fmt
        Format name from :data:`READERS`, or ``"auto"`` to detect it.
    type_map
        Element names to index ``atype`` into (frames are re-indexed).

    Returns
    -------
    Frames
        The frames, units as in :data:`hpcml.io.keys.KEYS`.

    Raises
    ------
    ValueError
        For an unknown ``fmt`` (with a "did you mean" hint).
    DataError
        For unreadable data, elements missing from ``type_map``, NaN or inf in
        coordinates, cells or labels, or a zero or singular cell (naming the frame).
    """
    paths = expand(path)
    if len(paths) > 1:
        parts = [read_any(p, fmt, type_map) for p in paths]
        names = type_map or list(dict.fromkeys(t for part in parts for t in part.type_map))
        try:
            return Frames.concat([part.with_type_map(names) for part in parts])
        except ValueError as exc:
            raise DataError(f"{path}: the {len(paths)} matches cannot be read as one set of "
                            f"frames ({exc}); list them separately") from None
    path = paths[0]
    name = detect_format(path) if fmt == "auto" else fmt
    if name not in READERS:
        raise ValueError(unknown_name_message("format", name, [*READERS, "auto"]))
    try:
        frames = READERS[name](Path(path), type_map)
    except ValueError as exc:  # inconsistent arrays, or elements not in type_map
        raise DataError(f"{path}: {exc}") from exc
    problem = bad_values(frames)
    if problem:
        raise DataError(f"{path}: {problem}; fix or drop that frame")
    return frames


def _write_npy(frames: Frames, path: Path) -> list[str]:
    from hpcml.io.deepmd import write_deepmd_npy

    return [str(p) for p in write_deepmd_npy(frames, path)]


def _write_deepmd_hdf5(frames: Frames, path: Path) -> list[str]:
    from hpcml.io.deepmd_hdf5 import write_deepmd_hdf5

    return write_deepmd_hdf5(frames, path)


def _write_store(frames: Frames, path: Path) -> list[str]:
    from hpcml.io.store import write_frames

    write_frames(path, frames)
    return [str(path)]


def _write_extxyz(frames: Frames, path: Path) -> list[str]:
    from hpcml.io.extxyz import write_extxyz

    write_extxyz(frames, path)
    return [str(path)]


#: Writers by format name: ``(frames, path) -> what was written``.
WRITERS: dict[str, Callable[[Frames, Path], list[str]]] = {
    "deepmd/npy": _write_npy,
    "deepmd/hdf5": _write_deepmd_hdf5,
    "hdf5": _write_store,
    "extxyz": _write_extxyz,
}


def output_format(path: str | os.PathLike) -> str:
    """The format :func:`write_any` picks for ``path``: by suffix, a directory otherwise.

    ``.h5``/``.hdf5`` is the hpcml store; DeePMD-kit's HDF5 systems need
    ``fmt="deepmd/hdf5"``.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if suffix in (".h5", ".hdf5"):
        return "hdf5"
    return "deepmd/npy"


def write_any(frames: Frames, path: str | os.PathLike, fmt: str = "auto") -> list[str]:
    """Write ``frames`` as ``fmt`` (see :data:`WRITERS`); return the paths/systems written."""
    name = output_format(path) if fmt == "auto" else fmt
    if name not in WRITERS:
        raise ValueError(unknown_name_message("output format", name, [*WRITERS, "auto"]))
    return WRITERS[name](frames, Path(path))
