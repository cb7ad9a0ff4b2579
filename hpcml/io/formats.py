"""Format registry: :func:`read_any` picks a reader by name or from the path.

Formats (ASE ``io/formats.py`` style, one entry each):

=============  ===========================================  =================
name           what                                         detected by
=============  ===========================================  =================
``deepmd/npy``  DeePMD-kit system directory                 ``type.raw`` inside
``hdf5``       hpcml frame store                            ``.h5``/``.hdf5`` or HDF5 signature
``extxyz``     extended XYZ                                 ``.xyz``/``.extxyz``
=============  ===========================================  =================
"""

from __future__ import annotations

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


#: Readers by format name.
READERS: dict[str, Reader] = {
    "deepmd/npy": _read_deepmd,
    "hdf5": _read_hdf5,
    "extxyz": _read_extxyz,
}


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of ``path`` (see the module table).

    Raises
    ------
    DataError
        When ``path`` does not exist or its format is not recognised.
    """
    path = Path(path)
    if path.is_dir() and (path / "type.raw").exists():
        return "deepmd/npy"
    if path.suffix.lower() in (".xyz", ".extxyz"):
        return "extxyz"
    if path.is_file():
        with path.open("rb") as fh:
            if path.suffix.lower() in (".h5", ".hdf5") or fh.read(8) == _HDF5_SIGNATURE:
                return "hdf5"
    what = "does not exist" if not path.exists() else "has an unknown format"
    raise DataError(f"{path}: {what}; pass fmt= one of {list(READERS)}")


def read_any(path: str | os.PathLike, fmt: str = "auto",
             type_map: Sequence[str] | None = None) -> Frames:
    """Read frames from any supported format.

    Parameters
    ----------
    path
        File or directory.
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
