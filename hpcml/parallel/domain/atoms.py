"""Owned atoms and the ghost plan of one rank (plain data, no communication)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LocalAtoms:
    """The atoms owned by one rank.

    Attributes
    ----------
    positions
        (n, 3) float64, Angstrom.
    ids
        (n,) int64 global atom ids.
    arrays
        Per-atom data that moves with the atoms, each (n, ...): velocities
        (A/fs), types, masses (amu), ...
    origin
        (n, 3) Angstrom, positions at the last :meth:`Domain.scatter` or
        :meth:`Domain.migrate`, or None; lets ``migrate`` detect atoms that
        moved further than a sub-domain width.  ``dataclasses.replace(local,
        positions=x)`` keeps it.
    """

    positions: np.ndarray
    ids: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    origin: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> LocalAtoms:
        """The atoms at ``index`` (integer or boolean array), in that order."""
        origin = None if self.origin is None else self.origin[index]
        return LocalAtoms(self.positions[index], self.ids[index],
                          {k: v[index] for k, v in self.arrays.items()}, origin)

    @staticmethod
    def concat(parts: list[LocalAtoms]) -> LocalAtoms:
        """Join groups of atoms (same array keys); ``origin`` is dropped."""
        keys = parts[0].arrays.keys()
        return LocalAtoms(np.concatenate([p.positions for p in parts]).reshape(-1, 3),
                          np.concatenate([p.ids for p in parts]).astype(np.int64),
                          {k: np.concatenate([p.arrays[k] for p in parts]) for k in keys})


@dataclass(frozen=True)
class _Swap:
    """One message of the staged exchange, as seen from this rank.

    ``send_index`` rows of the extended array (owned + ghosts received so
    far), shifted by ``shift`` (A), go to ``send_to``; ``count`` ghosts come
    from ``recv_from`` into rows ``start:start + count``.
    """

    send_to: int
    recv_from: int
    send_index: np.ndarray
    shift: np.ndarray
    start: int
    count: int
    tag: int


@dataclass(frozen=True)
class GhostPlan:
    """The ghost atoms of one rank and how to refresh them.

    Attributes
    ----------
    n_local, n_ghost
        Owned atoms and ghosts; the extended array is ``n_local + n_ghost`` long.
    ids
        (n_ghost,) int64 global id of each ghost.
    images
        (n_ghost, 3) int64 lattice image of each ghost: its position is the
        owner's (wrapped) position plus ``images @ cell``.
    swaps
        The messages of the staged exchange, in order.
    """

    n_local: int
    n_ghost: int
    ids: np.ndarray
    images: np.ndarray
    swaps: tuple[_Swap, ...]
