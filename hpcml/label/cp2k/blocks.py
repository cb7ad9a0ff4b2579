"""The energy, force and stress blocks of a CP2K log, in both output generations.

CP2K 2023.1-2024.3 and CP2K 2025.1 onwards print them differently (checked in
CP2K's sources, ``force_env_methods.F``, ``force_env_utils.F`` and
``virial_methods.F``, and on stored real logs of 2023.1 and 2025.1 in
``tests/data/cp2k``):

- energy: ``ENERGY| Total FORCE_EVAL ( QS ) energy [a.u.]:  E`` up to
  2024.3; ``ENERGY| Total FORCE_EVAL ( QS ) energy [hartree]  E`` from 2025.1
  (no colon; the unit follows ``PRINT/PROGRAM_RUN_INFO/ENERGY_UNIT``);
- forces: the ``ATOMIC FORCES in [a.u.]`` table (atom, kind, element, x, y,
  z; then ``SUM OF ATOMIC FORCES``) up to 2024.3; from 2025.1 a
  ``FORCES| Atomic forces [hartree/bohr]`` header and rows
  ``FORCES| i x y z |f|`` without the element, then ``FORCES| Sum`` (the unit
  follows ``PRINT/FORCES/FORCE_UNIT``);
- stress: ``STRESS| Analytical stress tensor [GPa]`` and rows ``STRESS| x``,
  ``y``, ``z``, the same from 2025.1 but in ``[bar]`` by default
  (``PRINT/STRESS_TENSOR/STRESS_UNIT``).

Each reader takes the whole log and returns values in the units of hpcml
(eV, eV/Angstrom, GPa), or a string saying why it cannot.  The format is
recognised by its tokens, not by the version number.
"""

from __future__ import annotations

import re

import numpy as np

#: CODATA 2018 Hartree energy in eV.
HARTREE_EV = 27.211386245988
#: Hartree/Bohr in eV/Angstrom, the project's fixed factor; it agrees with CODATA
#: 2018 (27.211386245988 eV / 0.529177210903 A) to 4e-7 relative.
HARTREE_BOHR_EV_ANG = 51.42208619083232

#: energy unit (lower case) -> eV
ENERGY_UNITS = {"a.u.": HARTREE_EV, "hartree": HARTREE_EV, "ev": 1.0}
#: force unit (lower case) -> eV/Angstrom
FORCE_UNITS = {"a.u.": HARTREE_BOHR_EV_ANG, "hartree/bohr": HARTREE_BOHR_EV_ANG,
               "ev/angstrom": 1.0}
#: stress unit (lower case) -> GPa
STRESS_UNITS = {"gpa": 1.0, "bar": 1e-4, "kbar": 0.1, "mpa": 1e-3, "pa": 1e-9}

_ENERGY = re.compile(
    r"^ ENERGY\| Total FORCE_EVAL \( \w+ \) energy \[([^\]]+)\]:?[ \t]+(\S+)", re.M)
_OLD_FORCES = "ATOMIC FORCES in [a.u.]"
_NEW_FORCES = re.compile(r"^ FORCES\| Atomic forces \[([^\]]+)\]", re.M)
_STRESS = re.compile(r"^ STRESS\| Analytical stress tensor \[([^\]]+)\]", re.M)


def energy_ev(text: str) -> float | str:
    """The last total energy of the log in eV, or a reason."""
    found = _ENERGY.findall(text)
    if not found:
        return "no 'ENERGY| Total FORCE_EVAL' line in the log"
    unit, value = found[-1]
    factor = ENERGY_UNITS.get(unit.strip().lower())
    if factor is None:
        return (f"energy printed in [{unit}], which hpcml does not convert; remove "
                "FORCE_EVAL/PRINT/PROGRAM_RUN_INFO/ENERGY_UNIT from the template "
                f"(known: {', '.join(ENERGY_UNITS)})")
    return float(value) * factor


def _old_forces(text: str, start: int, symbols: list[str]) -> np.ndarray | str:
    """2023-2024 table: ``atom kind element x y z`` in Hartree/Bohr."""
    end = text.find("SUM OF ATOMIC FORCES", start)
    if end < 0:
        return "ATOMIC FORCES table is truncated"
    rows = [line.split() for line in text[start:end].splitlines()[1:]]
    rows = [r for r in rows if r and r[0].isdigit()]
    if len(rows) != len(symbols):
        return f"log has forces on {len(rows)} atoms, the input has {len(symbols)}"
    for i, row in enumerate(rows):
        if int(row[0]) != i + 1 or row[2].capitalize() != symbols[i]:
            return (f"atom order differs from the input at atom {i + 1}: log has "
                    f"{row[0]} {row[2]}, input has {symbols[i]}")
    return np.array([[float(v) for v in r[3:6]] for r in rows]) * HARTREE_BOHR_EV_ANG


def _new_forces(text: str, match: re.Match, natoms: int) -> np.ndarray | str:
    """2025- block: ``FORCES| i x y z |f|`` rows (no element column)."""
    unit = match.group(1)
    factor = FORCE_UNITS.get(unit.strip().lower())
    if factor is None:
        return (f"forces printed in [{unit}], which hpcml does not convert; remove "
                f"FORCE_EVAL/PRINT/FORCES/FORCE_UNIT (known: {', '.join(FORCE_UNITS)})")
    end = text.find(" FORCES| Sum", match.end())
    if end < 0:
        return "FORCES| table is truncated (no 'FORCES| Sum' line)"
    rows = [line.split()[1:] for line in text[match.end():end].splitlines()
            if line.startswith(" FORCES|")]
    rows = [r for r in rows if r and r[0].isdigit()]
    if len(rows) != natoms:
        return f"log has forces on {len(rows)} atoms, the input has {natoms}"
    for i, row in enumerate(rows):
        if int(row[0]) != i + 1:
            return (f"atom order differs from the input at atom {i + 1}: log has atom "
                    f"{row[0]} there")
    return np.array([[float(v) for v in r[1:4]] for r in rows]) * factor


def forces_ev_ang(text: str, symbols: list[str]) -> np.ndarray | str:
    """(natoms, 3) eV/Angstrom from the last force block of either format, or a reason.

    The 2023-2024 table names each atom's element, which is checked against
    ``symbols``; the 2025 block has indices only, which are checked in order.
    """
    old = text.rfind(_OLD_FORCES)
    new = list(_NEW_FORCES.finditer(text))
    if old < 0 and not new:
        return ("no force block in the log ('ATOMIC FORCES in [a.u.]' or 'FORCES| Atomic "
                "forces'; FORCE_EVAL/PRINT/FORCES missing?)")
    if new and new[-1].start() > old:
        return _new_forces(text, new[-1], len(symbols))
    return _old_forces(text, old, symbols)


def stress_gpa(text: str) -> np.ndarray | str:
    """(3, 3) GPa from the last analytical stress tensor block, or a reason."""
    matches = list(_STRESS.finditer(text))
    if not matches:
        return "the log has no analytical stress tensor"
    unit = matches[-1].group(1)
    factor = STRESS_UNITS.get(unit.strip().lower())
    if factor is None:
        return (f"stress printed in [{unit}], which hpcml does not convert (known: "
                f"{', '.join(STRESS_UNITS)})")
    lines = text[matches[-1].end():].splitlines()[2:5]
    try:
        rows = [[float(v) for v in line.split()[2:5]] for line in lines]
    except ValueError:
        return "the analytical stress tensor block is malformed"
    if len(rows) != 3 or any(len(r) != 3 for r in rows):
        return "the analytical stress tensor block is truncated"
    return np.array(rows) * factor
