"""The one table of frame keys: what each array is, its shape, dtype and unit.

Every reader, writer and the HDF5 store take their array names, shapes,
dtypes, units and descriptions from :data:`KEYS` (nequip ``data/_keys.py``
style).  Frames use a *ragged* layout:

* per-frame keys (``per == "frame"``) hold one row per frame, full shape
  ``(nf, *shape)``;
* per-atom keys (``per == "atom"``) hold one row per atom, concatenated over
  the frames in order, full shape ``(sum(natoms), *shape)``.

Units: lengths in Angstrom, energies in eV, forces in eV/Angstrom; ``"1"``
marks a dimensionless count or index.

Examples
--------
>>> KEYS["coord"].full_shape(10)
(10, 3)
>>> normalize_keys(["force", "energy"])
('natoms', 'cell', 'energy', 'coord', 'atype', 'force')
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

FRAME = "frame"
ATOM = "atom"


@dataclass(frozen=True)
class KeySpec:
    """Description of one frame key.

    Attributes
    ----------
    name
        Key name, also the HDF5 dataset name.
    per
        ``"frame"`` (one row per frame) or ``"atom"`` (one row per atom).
    shape
        Shape of one row (``()`` for a scalar).
    dtype
        Numpy dtype name of the stored array.
    unit
        Physical unit; ``"1"`` for dimensionless.
    doc
        One-line description.
    required
        True for keys every set of frames must carry.
    meta
        True for bookkeeping keys (not physics data).
    """

    name: str
    per: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    doc: str
    required: bool = False
    meta: bool = False

    def full_shape(self, n: int) -> tuple[int, ...]:
        """Shape of the array holding ``n`` rows (frames or atoms)."""
        return (int(n), *self.shape)

    @property
    def np_dtype(self) -> np.dtype:
        """The dtype as a :class:`numpy.dtype`."""
        return np.dtype(self.dtype)


_TABLE = (
    KeySpec("natoms", FRAME, (), "int64", "1", "number of atoms in the frame",
            required=True),
    KeySpec("cell", FRAME, (3, 3), "float64", "Angstrom",
            "periodic cell; rows are the lattice vectors a, b, c", required=True),
    KeySpec("energy", FRAME, (), "float64", "eV", "total potential energy"),
    KeySpec("virial", FRAME, (3, 3), "float64", "eV",
            "virial tensor (DeePMD-kit convention, -stress * volume)"),
    KeySpec("coord", ATOM, (3,), "float64", "Angstrom",
            "Cartesian atomic positions", required=True),
    KeySpec("atype", ATOM, (), "int32", "1",
            "atom type: index into type_map", required=True),
    KeySpec("force", ATOM, (3,), "float64", "eV/Angstrom", "atomic forces"),
    KeySpec("iteration", FRAME, (), "int64", "1",
            "concurrent-learning iteration that produced the frame", meta=True),
    KeySpec("deviation", FRAME, (), "float64", "eV/Angstrom",
            "max force deviation of the model committee", meta=True),
    KeySpec("system", FRAME, (), "int64", "1",
            "index of the source system", meta=True),
    KeySpec("frame_id", FRAME, (), "int64", "1",
            "index of the frame in its source", meta=True),
)

#: All frame keys, by name, in canonical order.
KEYS = MappingProxyType({spec.name: spec for spec in _TABLE})
#: Keys every set of frames carries.
REQUIRED_KEYS = tuple(spec.name for spec in _TABLE if spec.required)
#: Per-frame and per-atom key names, in canonical order.
FRAME_KEYS = tuple(spec.name for spec in _TABLE if spec.per == FRAME)
ATOM_KEYS = tuple(spec.name for spec in _TABLE if spec.per == ATOM)


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """Return "unknown <kind> 'name'; did you mean ...? Known: ..." for errors."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} Known: {', '.join(known)}"


def key_spec(name: str) -> KeySpec:
    """Return the :class:`KeySpec` of ``name``.

    Raises
    ------
    KeyError
        For an unknown key, with a "did you mean" hint.
    """
    try:
        return KEYS[name]
    except KeyError:
        raise KeyError(unknown_name_message("frame key", name, KEYS)) from None


def normalize_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """Validate key names, add the required ones, return them in table order.

    Parameters
    ----------
    keys
        Key names (any order, duplicates allowed).

    Returns
    -------
    tuple of str
        The required keys plus ``keys``, ordered as in :data:`KEYS`.

    Raises
    ------
    ValueError
        For an unknown key name.
    """
    chosen = set(REQUIRED_KEYS)
    for name in keys:
        if name not in KEYS:
            raise ValueError(unknown_name_message("frame key", str(name), KEYS))
        chosen.add(name)
    return tuple(name for name in KEYS if name in chosen)
