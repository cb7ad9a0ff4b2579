"""Periodic neighbour lists in the per-type padded layout of the DeepPot-SE model.

For centre atom ``i`` the neighbours of type ``t`` occupy one section of the
row, nearest first; sections are as wide as the largest count of that type
in the frame (at most ``sel[t]``).  Empty slots hold the index ``-1`` and a
displacement far outside the cutoff, so the model sees "no neighbour" there.

Units: Angstrom.  No MPI here: domain decomposition gives this function the
local + ghost atoms of one rank (issue 5).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpcml.errors import DataError


class NeighborOverflowError(DataError):
    """An atom has more neighbours of one type than the model's ``sel`` allows."""


@dataclass
class NeighborList:
    """Neighbours of each atom of one frame, padded per neighbour type.

    Attributes
    ----------
    rij
        (natoms, width, 3) float64 Angstrom: ``x_j + shift - x_i``; empty
        slots hold ``(far, 0, 0)`` with ``far`` beyond the cutoff.
    index
        (natoms, width) int64: atom index ``j`` of each slot (the image's
        original atom), ``-1`` for empty slots.
    widths
        Width of each type's section; ``width = sum(widths)``.
    counts
        (natoms, ntypes) int64: real neighbours of each type.
    """

    rij: np.ndarray
    index: np.ndarray
    widths: tuple[int, ...]
    counts: np.ndarray

    @property
    def width(self) -> int:
        """Total slots per atom."""
        return int(sum(self.widths))


def image_shifts(cell: np.ndarray, rcut: float) -> np.ndarray:
    """Integer lattice shifts whose images can lie within ``rcut`` of the cell.

    Parameters
    ----------
    cell
        (3, 3) Angstrom, rows are lattice vectors (any triclinic cell).
    rcut
        Cutoff radius, Angstrom.

    Returns
    -------
    numpy.ndarray
        (n_shifts, 3) int, the zero shift first.
    """
    volume = abs(np.linalg.det(cell))
    if volume < 1e-8:
        raise DataError(f"cell {cell.tolist()} has zero volume; frames need a periodic cell")
    # distance between opposite faces, one per lattice vector
    heights = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.ceil(rcut / heights).astype(int)
    grids = np.meshgrid(*[np.arange(-n, n + 1) for n in reach], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1)
    order = np.argsort(np.abs(shifts).sum(axis=1), kind="stable")
    return shifts[order]


def _wrapped_images(coord: np.ndarray, cell: np.ndarray,
                    rcut: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates wrapped into the cell (n, 3) and all their images (S * n, 3)."""
    frac = coord @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    images = (image_shifts(cell, rcut) @ cell)[:, None, :] + wrapped[None]  # (S, n, 3)
    return wrapped, images.reshape(-1, 3)


def _pairs(coord: np.ndarray, cell: np.ndarray, rcut: float,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs within ``rcut``: centre index, neighbour index, displacement.

    Cell list: the images near the atoms are binned in boxes of side at least
    ``rcut``, and each centre is tested against its 27 surrounding boxes, so
    the cost grows linearly with the number of atoms.  Pairs come out in the
    same order as :func:`_pairs_all` (by centre, then image index), so the
    neighbour lists are identical.
    """
    wrapped, images = _wrapped_images(coord, cell, rcut)
    n = coord.shape[0]
    lo, hi = wrapped.min(axis=0) - rcut, wrapped.max(axis=0) + rcut
    near = np.nonzero(np.all((images >= lo) & (images <= hi), axis=1))[0]
    nbins = np.maximum(((hi - lo) // rcut).astype(np.int64), 1)
    side = (hi - lo) / nbins

    def bins(points: np.ndarray) -> np.ndarray:
        return np.clip(((points - lo) // side).astype(np.int64), 0, nbins - 1)

    def flat(b: np.ndarray) -> np.ndarray:
        return (b[:, 0] * nbins[1] + b[:, 1]) * nbins[2] + b[:, 2]

    image_bin = flat(bins(images[near]))
    by_bin = np.argsort(image_bin, kind="stable")
    starts = np.searchsorted(image_bin[by_bin], np.arange(int(np.prod(nbins)) + 1))
    centre_bin = bins(wrapped)
    centres, members = [], []
    for offset in itertools.product((-1, 0, 1), repeat=3):
        b = centre_bin + np.asarray(offset)
        ok = np.nonzero(np.all((b >= 0) & (b < nbins), axis=1))[0]
        fb = flat(b[ok])
        first, count = starts[fb], starts[fb + 1] - starts[fb]
        c = np.repeat(ok, count)
        within = np.arange(c.size) - np.repeat(np.cumsum(count) - count, count)
        centres.append(c)
        members.append(np.repeat(first, count) + within)
    c = np.concatenate(centres)
    m = near[by_bin[np.concatenate(members)]]
    d = images[m] - wrapped[c]
    r2 = np.einsum("mk,mk->m", d, d)
    keep = np.nonzero((r2 < rcut * rcut) & (r2 > 1e-20))[0]
    c, m, d = c[keep], m[keep], d[keep]
    order = np.lexsort((m, c))
    return c[order], m[order] % n, d[order]


def _pairs_all(coord: np.ndarray, cell: np.ndarray, rcut: float,
               chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs within ``rcut`` by testing every image (quadratic; reference)."""
    wrapped, images = _wrapped_images(coord, cell, rcut)
    n = coord.shape[0]
    centres, neigh, disp = [], [], []
    for lo in range(0, n, chunk):
        d = images[None, :, :] - wrapped[lo:lo + chunk, None, :]     # (c, S*n, 3)
        r2 = np.einsum("cmk,cmk->cm", d, d)
        c, m = np.nonzero((r2 < rcut * rcut) & (r2 > 1e-20))
        j = m % n
        centres.append(c + lo)
        neigh.append(j)
        disp.append(d[c, m])
    return np.concatenate(centres), np.concatenate(neigh), np.concatenate(disp)


def build_neighbor_list(coord: np.ndarray, cell: np.ndarray | None, atype: np.ndarray,
                        rcut: float, sel: Sequence[int], far: float | None = None,
                        min_distance: float = 0.0) -> NeighborList:
    """Neighbour list of one frame (periodic when ``cell`` is given).

    Parameters
    ----------
    coord
        (natoms, 3) Angstrom.
    cell
        (3, 3) Angstrom, rows are lattice vectors, or None for an open
        (non-periodic) cluster.
    atype
        (natoms,) int type index of each atom, ``0 <= atype < len(sel)``.
    rcut
        Cutoff, Angstrom.
    sel
        Capacity: the largest number of neighbours of each type.
    far
        Distance written into empty slots (default ``2 * rcut``).
    min_distance
        Pairs closer than this raise DataError (overlapping atoms).

    Raises
    ------
    NeighborOverflowError
        When an atom has more neighbours of a type than ``sel`` allows; the
        message gives the count seen and the fix.
    """
    coord = np.asarray(coord, dtype=np.float64)
    atype = np.asarray(atype)
    ntypes, n = len(sel), coord.shape[0]
    if cell is None:
        span = np.ptp(coord, axis=0) + 4 * rcut + 1.0
        cell = np.diag(span)
    centre, neigh, disp = _pairs(coord, np.asarray(cell, np.float64), rcut)
    dist = np.linalg.norm(disp, axis=1)
    if min_distance > 0 and dist.size and dist.min() < min_distance:
        k = int(np.argmin(dist))
        raise DataError(f"atoms {centre[k]} and {neigh[k]} are {dist[k]:.3f} A apart "
                        f"(< {min_distance} A): overlapping atoms")
    ntype = atype[neigh]
    counts = np.zeros((n, ntypes), np.int64)
    np.add.at(counts, (centre, ntype), 1)
    over = counts > np.asarray(sel)[None, :]
    if over.any():
        worst = counts.max(axis=0)
        bad = [t for t in range(ntypes) if worst[t] > sel[t]]
        raise NeighborOverflowError(
            f"an atom has {worst[bad[0]]} neighbours of type {bad[0]} within rcut={rcut} A "
            f"but sel[{bad[0]}] = {sel[bad[0]]}; raise model.sel to at least "
            f"{[max(int(w), s) for w, s in zip(worst, sel)]} (or lower rcut)")
    widths = tuple(int(w) for w in counts.max(axis=0)) if n else (0,) * ntypes
    return _pack(centre, neigh, disp, dist, ntype, n, widths, counts,
                 2.0 * rcut if far is None else far)


def _pack(centre: np.ndarray, neigh: np.ndarray, disp: np.ndarray, dist: np.ndarray,
          ntype: np.ndarray, n: int, widths: tuple[int, ...], counts: np.ndarray,
          far: float) -> NeighborList:
    """Place the pairs into the padded per-type layout, nearest first."""
    width = sum(widths)
    rij = np.zeros((n, width, 3))
    rij[..., 0] = far
    index = np.full((n, width), -1, np.int64)
    order = np.lexsort((dist, ntype, centre))
    centre, neigh, disp, ntype = centre[order], neigh[order], disp[order], ntype[order]
    # slot = section start of the type + rank of the pair within (centre, type)
    group = centre * len(widths) + ntype
    first = np.searchsorted(group, group, side="left")
    rank = np.arange(group.size) - first
    start = np.concatenate(([0], np.cumsum(widths)[:-1])).astype(np.int64)
    slot = start[ntype] + rank
    rij[centre, slot] = disp
    index[centre, slot] = neigh
    return NeighborList(rij=rij, index=index, widths=widths, counts=counts)


def pad_widths(nlist: NeighborList, widths: Sequence[int], far: float) -> NeighborList:
    """Return ``nlist`` with each type's section widened to ``widths``."""
    if tuple(widths) == nlist.widths:
        return nlist
    n = nlist.rij.shape[0]
    rij = np.zeros((n, sum(widths), 3))
    rij[..., 0] = far
    index = np.full((n, sum(widths)), -1, np.int64)
    src = dst = 0
    for w_old, w_new in zip(nlist.widths, widths):
        if w_new < w_old:
            raise ValueError(f"cannot shrink a section from {w_old} to {w_new}")
        rij[:, dst:dst + w_old] = nlist.rij[:, src:src + w_old]
        index[:, dst:dst + w_old] = nlist.index[:, src:src + w_old]
        src, dst = src + w_old, dst + w_new
    return NeighborList(rij=rij, index=index, widths=tuple(widths), counts=nlist.counts)
