"""The CP2K output parser on stored real CP2K 2023.1 and 2025.1 outputs (tests/data/cp2k).

The 2025.1 logs are the same inputs run by Debian trixie's CP2K (make_outputs.py --chroot).
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hpcml.label.cp2k.parse import (
    CHECKED_VERSIONS,
    EV_ANG3_GPA,
    HARTREE_BOHR_EV_ANG,
    HARTREE_EV,
    parse_output,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "cp2k"
STRUCT = json.loads((DATA / "structure.json").read_text())
SYMBOLS, CELL = STRUCT["symbols"], np.array(STRUCT["cell"])


def log(name):
    return (DATA / f"{name}.log").read_text()


def test_converged_units_and_values():
    text = log("converged")
    res = parse_output(text, SYMBOLS, CELL, virial=True)
    assert res.ok, res.reason
    assert res.version == "2023.1"
    e_au = float(re.search(r"energy \[a\.u\.\]:\s+(\S+)", text).group(1))
    assert res.energy == pytest.approx(e_au * HARTREE_EV, rel=1e-15)
    assert res.energy == pytest.approx(-11.541842583108423 * 27.211386245988)
    first = text[text.index("ATOMIC FORCES"):].splitlines()[3].split()
    assert first[:3] == ["1", "1", "O"]
    np.testing.assert_allclose(res.force[0], np.array(first[3:6], float) * HARTREE_BOHR_EV_ANG)
    assert res.force.shape == (6, 3)
    np.testing.assert_allclose(res.force.sum(0), 0, atol=1e-6)
    stress = text[text.index("Analytical stress tensor"):].splitlines()[2].split()
    assert res.virial[0, 0] == pytest.approx(float(stress[2]) * 216.0 / EV_ANG3_GPA)
    np.testing.assert_allclose(res.virial, res.virial.T, atol=1e-10)
    assert res.scf_steps > 0


def test_conversion_constants():
    assert HARTREE_BOHR_EV_ANG == pytest.approx(HARTREE_EV / 0.529177210903, rel=1e-6)


def test_unconverged_scf_is_failed_not_labeled():
    text = log("unconverged")
    assert "ATOMIC FORCES" in text  # CP2K still prints forces: the trap
    res = parse_output(text, SYMBOLS, CELL, virial=True)
    assert not res.ok and res.reason == "SCF run NOT converged"
    assert res.force is None and np.isnan(res.energy)


def test_abort_reason_is_reported():
    res = parse_output(log("abort"), SYMBOLS, CELL)
    assert not res.ok
    assert "Unknown element for KIND <Xx>" in res.reason
    assert "topology_util.F" in res.reason


@pytest.mark.parametrize("text, reason", [
    (None, "missing"), ("", "missing")])
def test_missing_output(text, reason):
    res = parse_output(text, SYMBOLS)
    assert not res.ok and reason in res.reason


def test_truncated_output_is_failed():
    text = log("converged")
    res = parse_output(text[: text.index("ATOMIC FORCES")], SYMBOLS)
    assert not res.ok and "PROGRAM ENDED" in res.reason


def test_atom_count_and_order_checked():
    text = log("converged")
    res = parse_output(text, SYMBOLS[:5])
    assert not res.ok and "6 atoms" in res.reason and "has 5" in res.reason
    res = parse_output(text, ["H", "O", "H", "O", "H", "H"])
    assert not res.ok and "atom order" in res.reason


def test_virial_requested_without_stress_fails():
    text = "\n".join(line for line in log("converged").splitlines()
                     if not line.startswith(" STRESS|"))
    assert parse_output(text, SYMBOLS, CELL, virial=False).ok
    res = parse_output(text, SYMBOLS, CELL, virial=True)
    assert not res.ok and "stress" in res.reason


# --- the 2025.1 generation: energy [hartree] without a colon, FORCES| rows, stress in bar ---

def test_2025_units_and_values():
    text = log("converged-2025.1")
    res = parse_output(text, SYMBOLS, CELL, virial=True)
    assert res.ok, res.reason
    assert res.version == "2025.1" and not res.warnings
    e_ha = float(re.search(r"energy \[hartree\]\s+(\S+)", text).group(1))
    assert res.energy == pytest.approx(e_ha * HARTREE_EV, rel=1e-15)
    first = text[text.index("FORCES| Atomic forces"):].splitlines()[2].split()
    assert first[:2] == ["FORCES|", "1"]
    np.testing.assert_allclose(res.force[0], np.array(first[2:5], float) * HARTREE_BOHR_EV_ANG)
    stress = text[text.index("Analytical stress tensor [bar]"):].splitlines()[2].split()
    assert res.virial[0, 0] == pytest.approx(float(stress[2]) * 1e-4 * 216.0 / EV_ANG3_GPA)
    np.testing.assert_allclose(res.virial, res.virial.T, atol=1e-10)
    assert res.scf_steps > 0


def test_both_generations_give_the_same_labels():
    """Same input, CP2K 2023.1 and 2025.1: same numbers to CP2K's printed digits."""
    old = parse_output(log("converged"), SYMBOLS, CELL, virial=True)
    new = parse_output(log("converged-2025.1"), SYMBOLS, CELL, virial=True)
    assert old.version in CHECKED_VERSIONS and new.version in CHECKED_VERSIONS
    assert abs(old.energy - new.energy) < 1e-9
    np.testing.assert_allclose(new.force, old.force, atol=1e-6)     # 8 vs 9 printed digits
    np.testing.assert_allclose(new.virial, old.virial, atol=1e-6)


def test_2025_failures():
    res = parse_output(log("unconverged-2025.1"), SYMBOLS, CELL, virial=True)
    assert not res.ok and res.force is None
    assert res.reason == ("CP2K aborted: SCF run NOT converged. To continue the calculation "
                          "regardless, please set the keyword IGNORE_CONVERGENCE_FAILURE. "
                          "(qs_scf.F:611)")          # 2025.1 aborts where 2023.1 went on
    res = parse_output(log("abort-2025.1"), SYMBOLS, CELL)
    assert "fixed specifying properly elements" in res.reason
    text = log("converged-2025.1")
    res = parse_output(text, SYMBOLS[:5])
    assert not res.ok and "6 atoms" in res.reason and "has 5" in res.reason
    cut = text[: text.index(" FORCES| Sum")] + " PROGRAM ENDED AT\n"
    assert "FORCES| table is truncated" in parse_output(cut, SYMBOLS).reason
    swapped = text.replace(" FORCES|      2 ", " FORCES|      7 ")
    assert "atom order differs" in parse_output(swapped, SYMBOLS).reason


@pytest.mark.parametrize("old, new, check", [
    ("energy [hartree]            -11.541842583108412", "energy [eV]   -314.0",
     lambda r: r.energy == -314.0),
    ("Atomic forces [hartree/bohr]", "Atomic forces [eV/angstrom]",
     lambda r: r.force[0, 1] == pytest.approx(7.69242247e-04)),
    ("Analytical stress tensor [bar]", "Analytical stress tensor [GPa]",
     lambda r: r.virial[0, 0] == pytest.approx(3.45766376873e3 * 216 / EV_ANG3_GPA)),
])
def test_2025_print_units(old, new, check):
    text = log("converged-2025.1")
    assert old in text
    res = parse_output(text.replace(old, new), SYMBOLS, CELL, virial=True)
    assert res.ok and check(res), res.reason


def test_unknown_units_are_named():
    text = log("converged-2025.1")
    res = parse_output(text.replace("energy [hartree]", "energy [kcalmol]"), SYMBOLS)
    assert not res.ok and "[kcalmol]" in res.reason and "ENERGY_UNIT" in res.reason
    res = parse_output(text.replace("forces [hartree/bohr]", "forces [N]"), SYMBOLS)
    assert not res.ok and "[N]" in res.reason and "FORCE_UNIT" in res.reason


def test_unchecked_version_warns_once(caplog):
    text = log("converged-2025.1").replace("CP2K version 2025.1", "CP2K version 2099.9")
    with caplog.at_level("WARNING", logger="hpcml.label.cp2k.parse"):
        first = parse_output(text, SYMBOLS)
        second = parse_output(text, SYMBOLS)
    assert first.ok and second.ok and "2099.9" in first.warnings[0]
    assert "2023.1, 2025.1" in first.warnings[0]
    assert sum("2099.9" in r.message for r in caplog.records) == 1
