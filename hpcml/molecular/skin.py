"""Verlet (skin) neighbour lists for MD on one rank's owned + ghost atoms.

The list is built for the centre atoms ``0 .. n_centres-1`` over the extended
set (owned atoms first, then ghosts, which are already the right periodic
images, so no cell is needed) with the radius ``rcut + skin``, by a cell-list
search.  Every step only the displacements are recomputed from the current
positions; the list is rebuilt when an atom has moved more than ``skin / 2``
since the build (the caller decides, over all ranks).  Slots beyond ``rcut``
act as empty slots for the model (its switching function is zero there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpcml.errors import DataError
from hpcml.molecular.neighbors import NeighborList, NeighborOverflowError, _pack, _pairs


class SkinList:
    """Pairs within ``rcut + skin`` of each centre, in the model's padded layout.

    Parameters
    ----------
    positions
        (n_ext, 3) A, centres first.
    types
        (n_ext,) int.
    n_centres
        Number of centre (owned) atoms.
    rcut, skin
        Model cutoff and Verlet skin, A.
    sel
        Model capacity per type (checked within ``rcut`` at every step).
    min_distance
        Pairs closer than this (A) raise DataError: overlapping atoms
        (0 disables the check).
    """

    def __init__(self, positions: np.ndarray, types: np.ndarray, n_centres: int,
                 rcut: float, skin: float, sel: Sequence[int], min_distance: float = 0.0):
        self.rcut, self.skin, self.sel, self.n_centres = rcut, skin, tuple(sel), n_centres
        self.types = np.asarray(types)
        self.reference = positions[:n_centres].copy()
        reach = rcut + skin
        span = np.ptp(positions, axis=0) if len(positions) else np.zeros(3)
        box = np.diag(span + 4 * reach + 1.0)
        shift = positions.min(axis=0) - 2 * reach if len(positions) else np.zeros(3)
        centre, neigh, disp = _pairs(positions - shift, box, reach)
        keep = centre < n_centres
        centre, neigh, disp = centre[keep], neigh[keep], disp[keep]
        dist = np.linalg.norm(disp, axis=1)
        if dist.size and dist.min() < min_distance:
            k = int(np.argmin(dist))
            raise DataError(f"overlapping atoms: owned atom {centre[k]} and atom {neigh[k]} "
                            f"are {dist[k]:.3f} A apart (< {min_distance} A); check the start "
                            "structure")
        ntype = self.types[neigh]
        counts = np.zeros((n_centres, len(sel)), np.int64)
        np.add.at(counts, (centre, ntype), 1)
        widths = tuple(int(w) for w in counts.max(axis=0)) if n_centres else (0,) * len(sel)
        packed = _pack(centre, neigh, disp, dist, ntype, n_centres,
                       widths, counts, 2.0 * rcut)
        self.index, self.widths = packed.index, packed.widths

    def max_displacement(self, positions: np.ndarray) -> float:
        """Largest displacement (A) of a centre since the build."""
        if self.n_centres == 0:
            return 0.0
        return float(np.sqrt(np.max(np.sum((positions[: self.n_centres] - self.reference) ** 2,
                                           axis=1))))

    def neighbor_list(self, positions: np.ndarray) -> NeighborList:
        """The model's neighbour list at the current ``positions`` (n_ext, 3).

        Raises
        ------
        NeighborOverflowError
            When more neighbours of a type than ``sel`` lie within ``rcut``.
        """
        real = self.index >= 0
        safe = np.where(real, self.index, 0)
        rij = positions[safe] - positions[: self.n_centres, None, :]
        rij[~real] = (2.0 * self.rcut, 0.0, 0.0)
        inside = real & (np.einsum("nwk,nwk->nw", rij, rij) < self.rcut**2)
        counts = np.zeros((self.n_centres, len(self.sel)), np.int64)
        start = 0
        for t, w in enumerate(self.widths):
            counts[:, t] = inside[:, start:start + w].sum(axis=1)
            start += w
        worst = counts.max(axis=0) if self.n_centres else np.zeros(len(self.sel), int)
        if np.any(worst > np.asarray(self.sel)):
            t = int(np.argmax(worst - np.asarray(self.sel)))
            raise NeighborOverflowError(
                f"an atom has {worst[t]} neighbours of type {t} within rcut={self.rcut} A but "
                f"the model's sel[{t}] = {self.sel[t]}: the structure is denser than the "
                "training data (check the MD for collapse) or the model needs a larger sel")
        return NeighborList(rij=rij, index=self.index, widths=self.widths, counts=counts)
