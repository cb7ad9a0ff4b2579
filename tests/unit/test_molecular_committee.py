"""Committee file, deviation and the ASE calculator."""

import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.molecular.committee import Committee
from hpcml.molecular.deviation import force_deviation, virial_deviation
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec

SPEC = dict(rcut=4.0, sel=(30, 60), neuron=(8, 16), axis_neuron=4, fitting_neuron=(16,))


@pytest.fixture(scope="module")
def committee():
    return Committee([DeepPot(DeepPotSpec(**SPEC, seed=s)) for s in (1, 2, 3)])


def test_identical_members_have_zero_deviation():
    forces = np.random.default_rng(0).normal(size=(1, 5, 3)).repeat(4, axis=0)
    assert force_deviation(forces)["max_devi_f"] == 0.0
    assert virial_deviation(np.ones((4, 3, 3)), 5)["max_devi_v"] == 0.0


def test_force_deviation_definition():
    forces = np.zeros((2, 3, 3))
    forces[0, 1, 0], forces[1, 1, 0] = 1.0, -1.0        # atom 1 disagrees by +-1
    dev = force_deviation(forces)
    assert dev["max_devi_f"] == 1.0 and dev["min_devi_f"] == 0.0
    assert np.isclose(dev["avg_devi_f"], 1 / 3)


def test_save_load_round_trip(committee, tmp_path, water_frames):
    f = water_frames.frame(0)
    path = committee.save(tmp_path / "ensemble.pt")
    again = Committee.load(path)
    a = committee.evaluate(f["coord"], f["cell"], f["atype"])
    b = again.evaluate(f["coord"], f["cell"], f["atype"])
    assert np.array_equal(a["forces"], b["forces"]) and a["max_devi_f"] > 0
    assert not (tmp_path / "ensemble.pt.tmp").exists()


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.pt").write_text("not a model")
    with pytest.raises(DataError, match="not a model file"):
        Committee.load(tmp_path / "x.pt")
    import torch

    torch.save({"kind": "something"}, tmp_path / "y.pt")
    with pytest.raises(DataError, match="not an hpcml ensemble"):
        Committee.load(tmp_path / "y.pt")


def test_ase_calculator(committee, water_frames):
    ase = pytest.importorskip("ase")
    from hpcml.molecular.calculator import DeepPotCalculator

    f = water_frames.frame(0)
    f = {"coord": f["coord"][:24], "atype": f["atype"][:24], "cell": f["cell"] * 0.5}
    atoms = ase.Atoms(np.array(["O", "H"])[f["atype"]], positions=f["coord"], cell=f["cell"],
                      pbc=True)
    atoms.calc = DeepPotCalculator(committee)
    direct = committee.evaluate(f["coord"], f["cell"], f["atype"])
    assert np.isclose(atoms.get_potential_energy(), direct["energy"])
    np.testing.assert_allclose(atoms.get_forces(), direct["force"])
    assert np.isclose(atoms.get_potential_energies().sum(), direct["energy"])
    assert atoms.calc.results["max_devi_f"] == direct["max_devi_f"]
    # stress from the virial agrees with a finite difference of the energy under strain
    numeric = atoms.calc.calculate_numerical_stress(atoms, d=1e-5)
    np.testing.assert_allclose(atoms.get_stress(), numeric, atol=1e-7)
    with pytest.raises(DataError, match=r"elements \['C'\]"):
        atoms[0].symbol = "C"
        atoms.get_potential_energy()
