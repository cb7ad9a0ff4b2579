"""Small analytic potentials for testing integrators and MD drivers (numpy).

Each factory returns a force function ``(positions (n, 3) A, cell (3, 3) or
None) -> (energy eV, forces (n, 3) eV/A, virial (3, 3) eV)`` with the
conventions of :mod:`hpcml.molecular.integrators` (virial ``-sum r_ij (x)
dE/dr_ij``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np


def lennard_jones(epsilon: float = 0.0104, sigma: float = 3.4,
                  rcut: float = 8.5) -> Callable:
    """Shifted-force Lennard-Jones (argon defaults), minimum image in an orthorhombic cell.

    The pair energy and force both go to zero at ``rcut``, so the total
    energy is conserved by a symplectic integrator without cutoff jumps.
    """

    def pair(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sr6 = (sigma / r) ** 6
        u = 4 * epsilon * (sr6 * sr6 - sr6)
        du = -24 * epsilon * (2 * sr6 * sr6 - sr6) / r
        return u, du

    u_c, du_c = pair(np.array(rcut))

    def force_fn(positions: np.ndarray,
                 cell: np.ndarray | None) -> tuple[float, np.ndarray, np.ndarray]:
        d = positions[None, :, :] - positions[:, None, :]          # r_j - r_i
        if cell is not None:
            box = np.diag(cell)
            d -= box * np.round(d / box)
        r = np.linalg.norm(d, axis=-1)
        i, j = np.nonzero(np.triu((r < rcut) & (r > 0), k=1))
        rij, dij = r[i, j], d[i, j]
        u, du = pair(rij)
        u = u - u_c - (rij - rcut) * du_c
        g = ((du - du_c) / rij)[:, None] * dij                       # dE/d r_ij
        forces = np.zeros_like(positions)
        np.add.at(forces, i, g)
        np.add.at(forces, j, -g)
        virial = -np.einsum("pa,pb->ab", dij, g)
        return float(u.sum()), forces, virial

    return force_fn


def fcc_lattice(n_cells: int, a: float = 5.26) -> tuple[np.ndarray, np.ndarray]:
    """FCC positions (4 n^3, 3) A and the cubic cell (3, 3) A."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(n_cells)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid[:, None, :] + base[None]).reshape(-1, 3) * a
    return pos, np.eye(3) * a * n_cells


def pairs_within(points: np.ndarray, n_centres: int,
                 rcut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs (centre ``i < n_centres``, any ``j != i``) closer than ``rcut`` (no cell).

    Cell list over the bounding box, so the cost grows linearly with the
    number of points.

    Parameters
    ----------
    points
        (m, 3) A; the first ``n_centres`` rows are the centres.
    n_centres
        Number of centres.
    rcut
        Cutoff, A.

    Returns
    -------
    tuple of np.ndarray
        ``i`` (p,), ``j`` (p,) and ``d = points[j] - points[i]`` (p, 3) A.
    """
    lo = points.min(axis=0) if len(points) else np.zeros(3)
    span = (points.max(axis=0) - lo) if len(points) else np.zeros(3)
    nbins = np.maximum((span // rcut).astype(np.int64), 1)
    side = np.where(span > 0, span / nbins, 1.0)
    bins = np.minimum(((points - lo) / side).astype(np.int64), nbins - 1)
    flat = (bins[:, 0] * nbins[1] + bins[:, 1]) * nbins[2] + bins[:, 2]
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(int(np.prod(nbins)) + 1))
    out_i, out_j = [], []
    for offset in itertools.product((-1, 0, 1), repeat=3):
        b = bins[:n_centres] + np.asarray(offset)
        ok = np.nonzero(np.all((b >= 0) & (b < nbins), axis=1))[0]
        fb = (b[ok, 0] * nbins[1] + b[ok, 1]) * nbins[2] + b[ok, 2]
        first, count = starts[fb], starts[fb + 1] - starts[fb]
        i = np.repeat(ok, count)
        j = order[np.repeat(first, count) + np.arange(i.size)
                  - np.repeat(np.cumsum(count) - count, count)]
        d = points[j] - points[i]
        keep = (np.einsum("pk,pk->p", d, d) < rcut * rcut) & (i != j)
        out_i.append(i[keep])
        out_j.append(j[keep])
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    return i, j, points[j] - points[i]


def lennard_jones_extended(epsilon: float = 0.0104, sigma: float = 3.4,
                           rcut: float = 8.5) -> Callable:
    """Shifted-force Lennard-Jones on local + ghost atoms, the way a many-body model sees them.

    Returns ``fn(positions (m, 3) A, n_centres) -> (energy eV, forces (m, 3)
    eV/A)``: ``energy`` is the energy of the centres (the first ``n_centres``
    atoms), half of each pair energy per centre, ``E = 1/2 sum_{i < n_centres}
    sum_{j != i} u(r_ij)``, and ``forces = -dE/dx`` on **all** ``m`` atoms,
    ghosts included (no Newton's-third-law shortcut).  On a domain-decomposed
    system, owned forces plus the ghost forces summed back to their owners
    (``Domain.reverse``) equal :func:`lennard_jones` on the whole system, and
    the centre energies summed over ranks equal its energy.  Same pair
    function as :func:`lennard_jones`; no cell: pass images as extra atoms.
    """

    def pair(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sr6 = (sigma / r) ** 6
        return 4 * epsilon * (sr6 * sr6 - sr6), -24 * epsilon * (2 * sr6 * sr6 - sr6) / r

    u_c, du_c = pair(np.array(rcut))

    def force_fn(positions: np.ndarray, n_centres: int) -> tuple[float, np.ndarray]:
        positions = np.asarray(positions, dtype=np.float64)
        i, j, d = pairs_within(positions, n_centres, rcut)
        r = np.sqrt(np.einsum("pk,pk->p", d, d))
        u, du = pair(r)
        u = u - u_c - (r - rcut) * du_c
        g = (0.5 * (du - du_c) / r)[:, None] * d                    # dE/d r_ij, half per centre
        m = len(positions)
        forces = np.stack([np.bincount(i, g[:, k], m) - np.bincount(j, g[:, k], m)
                           for k in range(3)], axis=1).reshape(m, 3)
        return float(0.5 * u.sum()), forces

    return force_fn
