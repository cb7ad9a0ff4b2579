"""Small analytic potentials for testing integrators and MD drivers (numpy).

Each factory returns a force function ``(positions (n, 3) A, cell (3, 3) or
None) -> (energy eV, forces (n, 3) eV/A, virial (3, 3) eV)`` with the
conventions of :mod:`hpcml.molecular.integrators` (virial ``-sum r_ij (x)
dE/dr_ij``).
"""

from __future__ import annotations

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
