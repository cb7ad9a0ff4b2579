"""Strict parsing of a CP2K output log (``cp2k.psmp -i in -o out.log``).

A result is either labeled (energy, forces, and the virial when asked) or
failed with a reason; never a silent label.  It fails for: a missing or
empty log, an ``[ABORT]`` box, ``SCF run NOT converged`` (CP2K still exits
0 and prints energy and forces), a log that stops before ``PROGRAM ENDED``
(killed or timed out), a missing energy/forces/stress block, and atoms whose
count or elements differ from the input.

Both output generations are read: CP2K 2023.1-2024.3 and 2025.1 onwards
(:mod:`hpcml.label.cp2k.blocks` has the table).  A log of a CP2K version
without a stored real log in ``tests/data/cp2k`` (:data:`CHECKED_VERSIONS`)
is parsed all the same, with one warning per version and process.

Units: CP2K prints Hartree, Hartree/Bohr and GPa (bar by default from
2025.1); results are eV, eV/Angstrom and the virial in eV (DeePMD-kit
convention ``virial = stress * volume``, the sign that makes
``trace(virial) = -3 V dE/dV``; checked against a finite strain derivative
in the tests).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from hpcml.label.cp2k.blocks import (
    HARTREE_BOHR_EV_ANG,
    HARTREE_EV,
    energy_ev,
    forces_ev_ang,
    stress_gpa,
)

__all__ = ["CHECKED_VERSIONS", "CP2KResult", "EV_ANG3_GPA", "HARTREE_BOHR_EV_ANG", "HARTREE_EV",
           "abort_message", "parse_output"]

_log = logging.getLogger(__name__)

#: One eV/Angstrom^3 in GPa.
EV_ANG3_GPA = 160.21766208
#: CP2K versions whose real logs are stored in tests/data/cp2k and parsed by the tests
CHECKED_VERSIONS = ("2023.1", "2025.1")

_VERSION = re.compile(r"CP2K\| version string:\s+CP2K version (\S+)")
_warned: set[str] = set()
#: the stick figure at the left of CP2K's [ABORT] box (one piece per line)
_ART = re.compile(r"^(?:\\_+/|O/\||/\| \||/ \\|\||_+|/\s+\\)\s*")


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
    warnings
        Notes on a labeled frame (a CP2K version without a stored log).
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
        words.append(_ART.sub("", body.strip()) if "[ABORT]" not in body
                     else body.split("[ABORT]", 1)[1].strip())
    message = " ".join(w for w in words if w)
    return f"CP2K aborted: {message}" + (f" ({where})" if where else "")


def _warn_version(version: str) -> str:
    """A warning (logged once per version) for a CP2K version without a stored log."""
    if not version or version in CHECKED_VERSIONS:
        return ""
    text = (f"CP2K {version}: its output format is not checked against a stored log (checked: "
            f"{', '.join(CHECKED_VERSIONS)}); parsing by the tokens of those formats")
    if version not in _warned:
        _warned.add(version)
        _log.warning(text)
    return text


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
    energy = energy_ev(text)
    if isinstance(energy, str):
        return _failed(energy, version)
    forces = forces_ev_ang(text, symbols)
    if isinstance(forces, str):
        return _failed(forces, version)
    note = _warn_version(version)
    result = CP2KResult(ok=True, energy=energy, force=forces, scf_steps=_scf_steps(text),
                        version=version, warnings=[note] if note else [])
    if virial:
        stress = stress_gpa(text)
        if isinstance(stress, str) or cell is None:
            why = stress if isinstance(stress, str) else "no cell given"
            return _failed(f"virial requested but {why}", version)
        volume = abs(float(np.linalg.det(np.asarray(cell, float))))
        result.virial = stress * volume / EV_ANG3_GPA
    return result
