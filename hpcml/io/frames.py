"""A batch of atomic frames in the ragged layout of :mod:`hpcml.io.keys`.

Per-frame arrays have ``nf`` rows; per-atom arrays have ``sum(natoms)`` rows,
the atoms of frame 0 first, then those of frame 1, and so on.

Examples
--------
>>> import numpy as np
>>> fr = Frames(["O", "H"], {"natoms": [3], "cell": np.eye(3)[None] * 10,
...                          "coord": np.zeros((3, 3)), "atype": [0, 1, 1]})
>>> fr.n_frames, fr.n_atoms, fr.keys
(1, 3, ('natoms', 'cell', 'coord', 'atype'))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpcml.io.keys import ATOM, KEYS, REQUIRED_KEYS, key_spec, normalize_keys


def _as_key_array(name: str, value: Any) -> np.ndarray:
    """Convert ``value`` to the dtype of key ``name``, refusing lossy kinds."""
    spec = key_spec(name)
    arr = np.asarray(value)
    if arr.size and not np.can_cast(arr.dtype, spec.np_dtype, casting="same_kind"):
        raise ValueError(
            f"Frames key {name!r}: dtype {arr.dtype} cannot become {spec.dtype}; "
            f"pass {spec.dtype} values ({spec.doc})"
        )
    return np.ascontiguousarray(arr, dtype=spec.np_dtype)


def _check_shapes(arrays: Mapping[str, np.ndarray], ntypes: int) -> None:
    """Raise ValueError unless every array has the shape the table demands."""
    natoms = arrays["natoms"]
    if natoms.ndim != 1:
        raise ValueError(f"Frames key 'natoms' must be 1-D (nf,), got {natoms.shape}")
    if natoms.size and natoms.min() < 1:
        raise ValueError("Frames key 'natoms': every frame needs at least one atom")
    rows = {"frame": natoms.size, ATOM: int(natoms.sum())}
    for name, arr in arrays.items():
        spec = KEYS[name]
        want = spec.full_shape(rows[spec.per])
        if arr.shape != want:
            what = "nf" if spec.per == "frame" else "sum(natoms)"
            raise ValueError(
                f"Frames key {name!r}: shape {arr.shape}, expected {want} "
                f"({what} x {spec.shape or 'scalar'}, {spec.unit})"
            )
    atype = arrays["atype"]
    if atype.size and (atype.min() < 0 or atype.max() >= ntypes):
        raise ValueError(
            f"Frames key 'atype': values must index type_map (0..{ntypes - 1}), "
            f"got {atype.min()}..{atype.max()}"
        )


@dataclass(eq=False, repr=False)
class Frames:
    """Frames of atoms (ragged layout) plus the element names of the types.

    Parameters
    ----------
    type_map
        Element name of each atom type; ``atype`` indexes into it.
    arrays
        Key name to array, keys from :data:`hpcml.io.keys.KEYS`.  Must contain
        ``natoms`` (nf,), ``cell`` (nf, 3, 3) Angstrom, ``coord`` (na, 3)
        Angstrom and ``atype`` (na,), with ``na = sum(natoms)``; optional
        ``energy`` (nf,) eV, ``virial`` (nf, 3, 3) eV, ``force`` (na, 3)
        eV/Angstrom, and the metadata ``iteration``, ``deviation``
        (eV/Angstrom), ``system``, ``frame_id``, each (nf,).  Values are
        converted to the table's dtypes.

    Raises
    ------
    ValueError
        For unknown or missing keys, wrong shapes, lossy dtypes, frames with no
        atoms, or ``atype`` values outside ``type_map``.
    """

    type_map: list[str]
    arrays: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        self.type_map = [str(name) for name in self.type_map]
        if len(set(self.type_map)) != len(self.type_map):
            raise ValueError(f"Frames type_map has repeated names: {self.type_map}")
        missing = [k for k in REQUIRED_KEYS if k not in self.arrays]
        if missing:
            raise ValueError(f"Frames needs keys {missing} (required: {REQUIRED_KEYS})")
        order = normalize_keys(self.arrays)
        self.arrays = {name: _as_key_array(name, self.arrays[name]) for name in order}
        _check_shapes(self.arrays, len(self.type_map))

    @classmethod
    def empty(cls, type_map: Sequence[str], keys: Iterable[str] = ()) -> Frames:
        """Zero frames carrying ``keys`` (plus the required ones)."""
        arrays = {k: np.zeros(KEYS[k].full_shape(0), KEYS[k].dtype)
                  for k in normalize_keys(keys)}
        return cls(type_map, arrays)

    def __repr__(self) -> str:
        return (f"Frames(n_frames={self.n_frames}, n_atoms={self.n_atoms}, "
                f"keys={list(self.keys)}, type_map={self.type_map})")

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    @property
    def keys(self) -> tuple[str, ...]:
        """Key names present, in table order."""
        return tuple(self.arrays)

    @property
    def n_frames(self) -> int:
        """Number of frames ``nf``."""
        return int(self.arrays["natoms"].size)

    @property
    def n_atoms(self) -> int:
        """Total number of atoms, ``sum(natoms)``."""
        return int(self.arrays["natoms"].sum())

    @property
    def atom_start(self) -> np.ndarray:
        """Row of each frame's first atom in the per-atom arrays, (nf,) int64."""
        natoms = self.arrays["natoms"]
        starts = np.zeros(natoms.size, np.int64)
        starts[1:] = np.cumsum(natoms)[:-1]
        return starts

    @property
    def atom_slices(self) -> list[slice]:
        """Slice of each frame's atoms in the per-atom arrays, length nf."""
        starts = self.atom_start.tolist()
        return [slice(s, s + n) for s, n in zip(starts, self.arrays["natoms"].tolist())]

    def frame(self, i: int) -> dict[str, np.ndarray]:
        """Arrays of frame ``i``: per-frame rows and per-atom (natoms, ...) blocks."""
        i = range(self.n_frames)[i]
        atoms = self.atom_slices[i]
        return {k: (v[atoms] if KEYS[k].per == ATOM else v[i])
                for k, v in self.arrays.items()}

    def select(self, indices: Any) -> Frames:
        """Frames at ``indices`` (ints, negative allowed, a slice or a bool mask).

        Order and repeats of ``indices`` are kept.
        """
        idx = np.arange(self.n_frames)[indices].reshape(-1)
        natoms = self.arrays["natoms"][idx]
        starts = self.atom_start[idx]
        first = np.repeat(starts - np.concatenate(([0], np.cumsum(natoms)[:-1])), natoms)
        atom_idx = first + np.arange(int(natoms.sum()))
        arrays = {k: v[atom_idx if KEYS[k].per == ATOM else idx]
                  for k, v in self.arrays.items()}
        return Frames(self.type_map, arrays)

    def with_type_map(self, type_map: Sequence[str]) -> Frames:
        """Return the same frames with ``atype`` re-indexed into ``type_map``.

        Only elements that occur in the frames need to be in ``type_map``.

        Raises
        ------
        ValueError
            When an element of the frames is missing from ``type_map``.
        """
        type_map = [str(t) for t in type_map]
        used = [self.type_map[i] for i in np.unique(self.arrays["atype"])]
        missing = [t for t in used if t not in type_map]
        if missing:
            raise ValueError(f"elements {missing} are not in type_map {type_map}")
        lookup = np.array([type_map.index(t) if t in type_map else -1
                           for t in self.type_map] or [0], np.int32)
        arrays = dict(self.arrays, atype=lookup[self.arrays["atype"]])
        return Frames(type_map, arrays)

    @classmethod
    def concat(cls, parts: Sequence[Frames]) -> Frames:
        """Concatenate frames in order.

        The result's type_map is the first part's, extended by the new names of
        later parts (their ``atype`` is re-indexed).  All parts must carry the
        same keys.

        Raises
        ------
        ValueError
            For an empty list or parts with different keys.
        """
        if not parts:
            raise ValueError("Frames.concat needs at least one Frames (got none)")
        type_map = list(parts[0].type_map)
        for part in parts[1:]:
            type_map += [t for t in part.type_map if t not in type_map]
            if part.keys != parts[0].keys:
                raise ValueError(f"Frames.concat: keys {part.keys} != {parts[0].keys}")
        parts = [p if p.type_map == type_map else p.with_type_map(type_map) for p in parts]
        arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].keys}
        return cls(type_map, arrays)

    def difference(self, other: Frames) -> str | None:
        """Describe the first difference from ``other``, or None when identical.

        Arrays must match exactly (``np.array_equal``, NaN equal to NaN).
        """
        if self.type_map != other.type_map:
            return f"type_map {self.type_map} != {other.type_map}"
        if self.keys != other.keys:
            return f"keys {self.keys} != {other.keys}"
        for name, arr in self.arrays.items():
            nan_ok = arr.dtype.kind == "f"
            if not np.array_equal(arr, other.arrays[name], equal_nan=nan_ok):
                return f"array {name!r} differs"
        return None

    def equals(self, other: Frames) -> bool:
        """Return True when ``other`` holds identical keys, type_map and arrays."""
        return self.difference(other) is None


def assert_frames_equal(actual: Frames, expected: Frames) -> None:
    """Raise AssertionError naming the first difference between two Frames."""
    diff = actual.difference(expected)
    if diff is not None:
        raise AssertionError(f"Frames differ: {diff} ({actual!r} vs {expected!r})")
