"""Brute-force reference for the ghost sets: every image of every atom (for tests)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hpcml.parallel.domain.decomposition import Domain


def brute_force_ghosts(domain: Domain, positions: np.ndarray, ids: np.ndarray,
                       coords: Any = None) -> set[tuple[int, int, int, int]]:
    """Reference ghost set ``{(id, nx, ny, nz)}`` of one sub-domain, from all atoms.

    Parameters
    ----------
    domain
        The decomposition.
    positions
        (N, 3) A, every atom of the system, wrapped (as :meth:`Domain.scatter`
        or :meth:`Domain.migrate` leave them).
    ids
        (N,) global ids.
    coords
        Grid coordinates of the sub-domain; default this rank's.

    Returns
    -------
    set of tuple
        Every image ``n`` (with components in -1, 0, 1) of every atom whose
        fractional position ``s + n`` lies in the extended sub-domain, except
        the atoms the sub-domain owns themselves.
    """
    coords = np.asarray(domain.coords if coords is None else coords)
    frac = domain.fractional(np.asarray(positions, dtype=np.float64))
    owned = np.all(domain.owner_coords(frac) == coords, axis=1)
    lo, hi = domain.extended_bounds(coords)
    found = set()
    for image in itertools.product((-1, 0, 1), repeat=3):
        value = frac + np.asarray(image)
        inside = np.all((value >= lo) & (value < hi), axis=1)
        if image == (0, 0, 0):
            inside &= ~owned
        found.update((int(i), *image) for i in np.asarray(ids)[inside])
    return found
