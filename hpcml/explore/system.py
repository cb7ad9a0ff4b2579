"""Start structures for MD: read a frame, replicate the cell, atomic masses."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hpcml.errors import OPTIONAL_MODULES, DataError
from hpcml.io import read_any

#: Standard atomic weights (amu) of the elements hpcml's examples use.
MASSES = {"H": 1.008, "He": 4.0026, "Li": 6.94, "Be": 9.0122, "B": 10.81, "C": 12.011,
          "N": 14.007, "O": 15.999, "F": 18.998, "Ne": 20.180, "Na": 22.990, "Mg": 24.305,
          "Al": 26.982, "Si": 28.085, "P": 30.974, "S": 32.06, "Cl": 35.45, "Ar": 39.948,
          "K": 39.098, "Ca": 40.078, "Ti": 47.867, "Fe": 55.845, "Cu": 63.546, "Zn": 65.38}


def atomic_masses(symbols: list[str]) -> np.ndarray:
    """Masses (amu) of the elements ``symbols`` (ASE's table for the rare ones)."""
    missing = [s for s in symbols if s not in MASSES]
    table = dict(MASSES)
    if missing:
        try:
            from ase.data import atomic_masses as ase_masses
            from ase.data import atomic_numbers
        except ModuleNotFoundError:
            raise DataError(f"no mass for {', '.join(sorted(set(missing)))} in hpcml's table "
                            f"and ASE, whose table is used for the rest, is not installed: "
                            f"{OPTIONAL_MODULES['ase']}") from None
        table.update({s: float(ase_masses[atomic_numbers[s]]) for s in missing})
    return np.array([table[s] for s in symbols])


@dataclass
class Structure:
    """One periodic configuration: positions (n, 3) A, types (n,), cell (3, 3) A."""

    positions: np.ndarray
    types: np.ndarray
    cell: np.ndarray
    type_map: list[str]

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.types)

    def replicate(self, reps: tuple[int, int, int]) -> Structure:
        """The structure repeated ``reps`` times along the lattice vectors."""
        shifts = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"),
                          -1).reshape(-1, 3) @ self.cell
        pos = (self.positions[None] + shifts[:, None]).reshape(-1, 3)
        return Structure(pos, np.tile(self.types, len(shifts)),
                         self.cell * np.asarray(reps)[:, None], self.type_map)


def load_structure(path: str | os.PathLike, frame: int, type_map: list[str]) -> Structure:
    """Frame ``frame`` of a data file, re-indexed to the model's ``type_map``.

    Raises
    ------
    DataError
        For a missing frame, elements the model does not know, or no cell.
    """
    frames = read_any(path)
    if not -len(frames) <= frame < len(frames):
        raise DataError(f"{path}: has {len(frames)} frame(s); md.walkers[].frame={frame} "
                        "is out of range")
    unknown = sorted(set(frames.type_map) - set(type_map))
    if unknown:
        raise DataError(f"{path}: elements {unknown} are not in the model's type_map "
                        f"{type_map}; train a model that knows them")
    f = frames.with_type_map(type_map).frame(frame)
    cell = np.asarray(f["cell"], np.float64)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise DataError(f"{path}: frame {frame} has no periodic cell; MD needs one")
    return Structure(np.asarray(f["coord"], np.float64), f["atype"].astype(np.int64), cell,
                     list(type_map))


def replicas_for(n_atoms: int, base: int) -> tuple[int, int, int]:
    """Cubic replication ``(r, r, r)`` giving ``n_atoms`` from ``base`` atoms.

    Raises
    ------
    DataError
        When ``n_atoms`` is not ``base * r^3``.
    """
    r = round((n_atoms / base) ** (1 / 3))
    if r < 1 or base * r**3 != n_atoms:
        options = [base * k**3 for k in range(1, 6)]
        raise DataError(f"--atoms {n_atoms}: the start cell has {base} atoms, so use one of "
                        f"{options} (cubic replicas)")
    return (r, r, r)
