"""Initial data by perturbation (DP-GEN's ``init_bulk``): strained cells, displaced atoms.

Also :func:`water_box`, a molecular water box on a cubic lattice with random
orientations, the start structure of the embedded demo.
"""

from __future__ import annotations

import numpy as np

from hpcml.explore.system import Structure
from hpcml.io import Frames

#: Avogadro's number times 1e-24 (g/cm^3 <-> amu/A^3).
_AMU_PER_A3 = 0.602214076


def perturbed_frames(structure: Structure, n: int, cell_perturb: float, atom_perturb: float,
                     rng: np.random.Generator) -> Frames:
    """``n`` perturbed copies of ``structure`` as unlabeled :class:`Frames`.

    Each copy has its cell multiplied by ``I + E`` with ``E`` symmetric and
    its elements uniform in ``[-cell_perturb, cell_perturb]`` (atoms follow in
    fractional coordinates), then each atom moved in a random direction by a
    distance uniform in ``[0, atom_perturb]`` Angstrom.

    Returns
    -------
    Frames
        ``coord`` (n * natoms, 3) A, ``cell`` (n, 3, 3) A, ``atype``, ``natoms``.
    """
    cells, coords = [], []
    frac = structure.positions @ np.linalg.inv(structure.cell)
    for _ in range(n):
        strain = rng.uniform(-cell_perturb, cell_perturb, (3, 3))
        cell = structure.cell @ (np.eye(3) + 0.5 * (strain + strain.T))
        direction = rng.normal(size=(structure.n_atoms, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        step = rng.uniform(0.0, atom_perturb, (structure.n_atoms, 1)) * direction
        cells.append(cell)
        coords.append(frac @ cell + step)
    return Frames(list(structure.type_map), {
        "natoms": np.full(n, structure.n_atoms), "cell": np.array(cells),
        "coord": np.concatenate(coords), "atype": np.tile(structure.types, n)})


def water_box(n_side: int, density: float = 1.0, seed: int = 0) -> Structure:
    """``n_side**3`` water molecules on a cubic lattice, randomly oriented.

    Parameters
    ----------
    n_side
        Molecules along each edge of the cubic cell.
    density
        Mass density, g/cm^3 (sets the cell edge).
    seed
        Seed of the orientations.

    Returns
    -------
    Structure
        Types ``[O, H]``; atoms ordered O, H, H per molecule; O-H 0.9572 A,
        H-O-H 104.52 degrees.
    """
    rng = np.random.default_rng(seed)
    n_mol = n_side ** 3
    edge = (n_mol * 18.015 / (density * _AMU_PER_A3)) ** (1.0 / 3.0)
    spacing = edge / n_side
    half = np.deg2rad(104.52) / 2
    local = 0.9572 * np.array([[0.0, 0.0, 0.0], [np.sin(half), np.cos(half), 0.0],
                               [-np.sin(half), np.cos(half), 0.0]])
    positions = []
    for ijk in np.ndindex(n_side, n_side, n_side):
        q = rng.normal(size=(3, 3))
        rot, _ = np.linalg.qr(q)
        positions.append((np.array(ijk) + 0.5) * spacing + local @ rot.T)
    return Structure(np.concatenate(positions), np.tile([0, 1, 1], n_mol),
                     np.eye(3) * edge, ["O", "H"])
