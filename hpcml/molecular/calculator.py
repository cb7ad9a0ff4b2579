"""ASE calculator for a DeepPot ensemble (committee mean, with the deviation).

>>> from hpcml.molecular.calculator import DeepPotCalculator   # doctest: +SKIP
>>> atoms.calc = DeepPotCalculator("water-train/ensemble.pt")  # doctest: +SKIP
>>> atoms.get_potential_energy(), atoms.calc.results["max_devi_f"]  # doctest: +SKIP

Properties: ``energy``, ``free_energy``, ``energies`` (per atom), ``forces``
and ``stress`` (``-virial / volume`` in eV/A^3, Voigt order, periodic cells
only) of the committee mean.  ``results`` also holds the committee deviation
``max_devi_f``, ``min_devi_f``, ``avg_devi_f`` (eV/A), and ``max_devi_v``
etc. for periodic cells, and the members' ``energies_committee`` (K,) and
``forces_committee`` (K, natoms, 3).  ASE is an optional dependency (Debian
package ``python3-ase`` or ``pip install 'hpcml[ase]'``); without it importing
this module raises a ``ModuleNotFoundError`` that says so.
"""

from __future__ import annotations

import os

import numpy as np

from hpcml.errors import OPTIONAL_MODULES, DataError

try:
    from ase.calculators.calculator import Calculator, all_changes
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] != "ase":
        raise
    raise ModuleNotFoundError("hpcml.molecular.calculator (the ASE calculator) needs ASE: "
                              f"{OPTIONAL_MODULES['ase']}", name="ase") from None

from hpcml.molecular.committee import Committee


class DeepPotCalculator(Calculator):
    """ASE calculator of a :class:`~hpcml.molecular.committee.Committee`.

    Parameters
    ----------
    model
        Path of an ``ensemble.pt`` (or single model) written by hpcml, or a
        :class:`Committee`.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: str | os.PathLike | Committee, **kwargs: object):
        super().__init__(**kwargs)
        self.committee = model if isinstance(model, Committee) else Committee.load(model)

    def _types(self, symbols: list[str]) -> np.ndarray:
        """Type index of each symbol; DataError for elements the model lacks."""
        type_map = self.committee.type_map
        unknown = sorted(set(symbols) - set(type_map))
        if unknown:
            raise DataError(f"elements {unknown} are not in the model's type_map {type_map}")
        return np.array([type_map.index(s) for s in symbols], np.int64)

    def calculate(self, atoms: object = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Evaluate every committee member on ``atoms`` and store the results."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        atoms = self.atoms
        periodic = bool(np.all(atoms.pbc))
        if np.any(atoms.pbc) and not periodic:
            raise DataError("DeepPotCalculator handles fully periodic or open systems only "
                            f"(pbc={atoms.pbc.tolist()})")
        cell = np.array(atoms.cell) if periodic else None
        out = self.committee.evaluate(atoms.positions, cell,
                                      self._types(atoms.get_chemical_symbols()),
                                      virial=periodic)
        self.results = {"energy": out["energy"], "free_energy": out["energy"],
                        "forces": out["force"], "energies": out["atom_energy"],
                        "energies_committee": out["energies"],
                        "forces_committee": out["forces"]}
        self.results.update({k: v for k, v in out.items() if "devi" in k})
        if periodic:
            stress = -out["virial"] / atoms.get_volume()
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]]
