"""Strict parsing of a CP2K output log (``cp2k.psmp -i in -o out.log``).

A result is either labeled (energy, forces, and the virial when asked) or
failed with a reason; never a silent label.  It fails for: a missing or
empty log, an ``[ABORT]`` box, ``SCF run NOT converged`` (CP2K still exits
0 and prints energy and forces), a log that stops before ``PROGRAM ENDED``
(killed or timed out), a missing energy/forces/stress block, and atoms whose
count or elements differ from the input.

Units: CP2K prints Hartree, Hartree/Bohr and GPa; results are eV, eV/Angstrom
and the virial in eV (DeePMD-kit convention ``virial = stress * volume``,
the sign that makes ``trace(virial) = -3 V dE/dV``; checked against a finite
strain derivative in the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

#: CODATA 2018 Hartree energy in eV.
HARTREE_EV = 27.211386245988
#: Hartree/Bohr in eV/Angstrom, the project's fixed factor; it agrees with CODATA
#: 2018 (27.211386245988 eV / 0.529177210903 A) to 4e-7 relative.
HARTREE_BOHR_EV_ANG = 51.42208619083232
#: One eV/Angstrom^3 in GPa.
EV_ANG3_GPA = 160.21766208

_ENERGY = re.compile(r"^ ENERGY\| Total FORCE_EVAL \( \w+ \) energy \[a\.u\.\]:\s+(\S+)", re.M)
_VERSION = re.compile(r"CP2K\| version string:\s+CP2K version (\S+)")
_STRESS = re.compile(r"^ STRESS\| Analytical stress tensor \[GPa\]", re.M)


@dataclass
class CP2KResult:
    """Labels of one frame, or why there are none.

    Attributes
    ----------
    ok
        True when energy and forces (and the virial, when asked) are trusted.
    reason
        Why the frame failed (empty when ``ok``).
    energy
        Total energy, eV (NaN when failed).
    force
        (natoms, 3) eV/Angstrom, or None.
    virial
        (3, 3) eV, or None.
    scf_steps
        SCF iterations of the last SCF reported (0 when unknown).
    version
        CP2K version string from the log.
    """

    ok: bool
    reason: str = ""
    energy: float = float("nan")
    force: np.ndarray | None = None
    virial: np.ndarray | None = None
    scf_steps: int = 0
    version: str = ""
    warnings: list[str] = field(default_factory=list)


def _failed(reason: str, version: str = "") -> CP2KResult:
    return CP2KResult(ok=False, reason=reason, version=version)


def abort_message(text: str) -> str:
    """The message of the first ``[ABORT]`` box, e.g. ``"Unknown element ... (file.F:12)"``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "[ABORT]" in line)
    words, where = [], ""
    for line in lines[start:start + 8]:
        body = line.strip().strip("*")
        if re.search(r"\w+\.F:\d+\s*$", body):
            where = body.split()[-1]
            break
        words.append(body[10:].strip() if "[ABORT]" not in body
                     else body.split("[ABORT]", 1)[1].strip())
    message = " ".join(w for w in words if w)
    return f"CP2K aborted: {message}" + (f" ({where})" if where else "")


def _forces(text: str, symbols: list[str]) -> np.ndarray | str:
    """(natoms, 3) Hartree/Bohr from the last ``ATOMIC FORCES`` table, or a reason."""
    start = text.rfind("ATOMIC FORCES in [a.u.]")
    if start < 0:
        return "no ATOMIC FORCES table in the log (FORCE_EVAL/PRINT/FORCES missing?)"
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
    return np.array([[float(v) for v in r[3:6]] for r in rows])


def _stress(text: str) -> np.ndarray | None:
    """(3, 3) GPa from the last analytical stress tensor block, or None."""
    matches = list(_STRESS.finditer(text))
    if not matches:
        return None
    lines = text[matches[-1].end():].splitlines()[2:5]
    try:
        rows = [[float(v) for v in line.split()[2:5]] for line in lines]
    except ValueError:
        return None
    return np.array(rows) if len(rows) == 3 and all(len(r) == 3 for r in rows) else None


def _scf_steps(text: str) -> int:
    found = re.findall(r"SCF run converged in\s+(\d+) steps", text)
    return int(found[-1]) if found else 0


def parse_output(text: str | None, symbols: list[str], cell: np.ndarray | None = None,
                 virial: bool = False) -> CP2KResult:
    """Parse a CP2K log into labels in eV units, or a failure with its reason.

    Parameters
    ----------
    text
        The whole log, or None when the file is missing.
    symbols
        Element of each input atom, in input order (length natoms).
    cell
        (3, 3) Angstrom; needed for the virial (volume).
    virial
        Require the stress tensor and return the virial.

    Returns
    -------
    CP2KResult
        ``ok`` with energy (eV), force (natoms, 3) eV/Angstrom and virial
        (3, 3) eV, or ``ok=False`` with ``reason``.
    """
    if not text:
        return _failed("missing or empty CP2K output")
    match = _VERSION.search(text)
    version = match.group(1) if match else ""
    if "[ABORT]" in text:
        return _failed(abort_message(text), version)
    if "SCF run NOT converged" in text:
        return _failed("SCF run NOT converged", version)
    if "PROGRAM ENDED AT" not in text:
        return _failed("CP2K output ends before PROGRAM ENDED (killed or timed out)", version)
    energies = _ENERGY.findall(text)
    if not energies:
        return _failed("no 'ENERGY| Total FORCE_EVAL' line in the log", version)
    forces = _forces(text, symbols)
    if isinstance(forces, str):
        return _failed(forces, version)
    result = CP2KResult(ok=True, energy=float(energies[-1]) * HARTREE_EV,
                        force=forces * HARTREE_BOHR_EV_ANG, scf_steps=_scf_steps(text),
                        version=version)
    if virial:
        stress = _stress(text)
        if stress is None or cell is None:
            return _failed("virial requested but the log has no analytical stress tensor",
                           version)
        volume = abs(float(np.linalg.det(np.asarray(cell, float))))
        result.virial = stress * volume / EV_ANG3_GPA
    return result
