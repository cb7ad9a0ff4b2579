"""The CP2K output parser on stored real CP2K 2023.1 outputs (tests/data/cp2k)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hpcml.label.cp2k.parse import (
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
