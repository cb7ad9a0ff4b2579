"""Any format ASE reads (POSCAR, CIF, LAMMPS data, extxyz, traj, ...) as :class:`Frames`.

Used by :func:`hpcml.io.read_any` as the ``ase`` format, for files no built-in
reader recognises (start structures above all), when ASE is installed.
Energies (eV) and forces (eV/Angstrom) come from the file's calculator
results; the virial (eV) from ``info["virial"]`` or from the stress as
``virial = -stress * volume`` (ASE's stress in eV/Angstrom^3, the sign
dpdata uses).  Frames need a cell.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpcml.errors import OPTIONAL_MODULES, DataError
from hpcml.io.frames import Frames


def ase_available() -> bool:
    """Whether ASE can be imported."""
    try:
        import ase.io  # noqa: F401
    except ImportError:
        return False
    return True


def _results(atoms: object) -> dict:
    """Calculator results of one ASE Atoms (empty without a calculator)."""
    calc = getattr(atoms, "calc", None)
    return dict(getattr(calc, "results", {}) or {})


def _virial(atoms: object, results: dict) -> np.ndarray | None:
    """(3, 3) eV from info['virial'] or the stress, or None."""
    if "virial" in atoms.info:
        return np.asarray(atoms.info["virial"], float).reshape(3, 3)
    stress = results.get("stress", atoms.info.get("stress"))
    if stress is None:
        return None
    stress = np.asarray(stress, float)
    if stress.size == 6:                    # Voigt: xx yy zz yz xz xy
        xx, yy, zz, yz, xz, xy = stress
        stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return -stress.reshape(3, 3) * abs(float(np.linalg.det(atoms.cell.array)))


def read_ase(path: str | os.PathLike, type_map: Sequence[str] | None = None,
             format: str | None = None) -> Frames:  # noqa: A002 (ASE's keyword)
    """Every image of ``path`` read by ``ase.io.read`` as Frames.

    Keys: ``coord``, ``cell``, ``atype`` and, when every image has them,
    ``energy``, ``force``, ``virial``.

    Raises
    ------
    DataError
        When ASE is missing or cannot read the file, or an image has no cell.
    """
    path = Path(path)
    try:
        import ase.io
    except ImportError:
        raise DataError(f"{path}: not a format hpcml reads itself, and ASE (which reads "
                        "POSCAR, CIF, LAMMPS data, ...) is not installed: "
                        f"{OPTIONAL_MODULES['ase']}"
                        ) from None
    try:
        images = ase.io.read(str(path), index=":", format=format)
    except Exception as exc:  # noqa: BLE001 (ASE raises many types for a bad file)
        raise DataError(f"{path}: ASE cannot read it ({type(exc).__name__}: {exc})") from None
    if not images:
        raise DataError(f"{path}: no structures in the file")
    symbols = [a.get_chemical_symbols() for a in images]
    names = list(type_map) if type_map else list(dict.fromkeys(s for sym in symbols
                                                               for s in sym))
    missing = sorted({s for sym in symbols for s in sym} - set(names))
    if missing:
        raise DataError(f"{path}: elements {missing} are not in type_map {names}")
    arrays: dict[str, list] = {"natoms": [], "cell": [], "coord": [], "atype": []}
    labels: dict[str, list] = {"energy": [], "force": [], "virial": []}
    for i, (atoms, sym) in enumerate(zip(images, symbols)):
        cell = atoms.cell.array
        if abs(np.linalg.det(cell)) < 1e-9:
            raise DataError(f"{path}: image {i} has no cell; hpcml frames need a periodic cell")
        arrays["natoms"].append(len(atoms))
        arrays["cell"].append(cell)
        arrays["coord"].append(atoms.positions)
        arrays["atype"].append([names.index(s) for s in sym])
        res = _results(atoms)
        labels["energy"].append(res.get("energy", res.get("free_energy")))
        labels["force"].append(res.get("forces"))
        labels["virial"].append(_virial(atoms, res))
    out = {"natoms": np.array(arrays["natoms"]), "cell": np.array(arrays["cell"], float),
           "coord": np.concatenate(arrays["coord"]).astype(float),
           "atype": np.concatenate(arrays["atype"]).astype(np.int32)}
    if all(e is not None for e in labels["energy"]):
        out["energy"] = np.array(labels["energy"], float)
    if all(f is not None for f in labels["force"]):
        out["force"] = np.concatenate(labels["force"]).astype(float)
    if all(v is not None for v in labels["virial"]):
        out["virial"] = np.array(labels["virial"], float)
    return Frames(names, out)
