"""DeepPot-SE model: reference equality and the physics-invariant kit."""

import numpy as np
import pytest
import torch

from hpcml.molecular.model import DeepPot
from hpcml.molecular.neighbors import NeighborOverflowError, build_neighbor_list
from hpcml.molecular.reference import reference_energy
from hpcml.molecular.spec import DeepPotSpec
from hpcml.testing import invariants as inv
from hpcml.testing.models import small_model

SMALL = dict(rcut=4.0, rcut_smth=0.5, sel=(40, 80), neuron=(8, 16), axis_neuron=4,
             fitting_neuron=(16, 16))


def make_model(precision="float64", seed=3, **kw):
    return small_model(seed, precision=precision, bias=(-2.0, -1.0), **{**SMALL, **kw})


@pytest.fixture(scope="module")
def water(water_frames):
    f = water_frames.frame(0)
    # 8 O + 16 H in a triclinic, skewed half cell: small and periodic with images
    cell = f["cell"].astype(float) * 0.5
    cell[1, 0], cell[2, 1] = 1.3, -0.8
    pick = np.r_[0:8, 64:80]
    assert set(f["atype"][pick]) == {0, 1}
    return f["coord"][pick].astype(float), cell, f["atype"][pick].copy()


@pytest.fixture(scope="module")
def model():
    return make_model()


def evaluator(model):
    return lambda c, b, t: model.evaluate(c, b, t)


@pytest.mark.parametrize("one_side", [True, False])
def test_matches_numpy_reference(water, one_side):
    coord, cell, atype = water
    model = make_model(type_one_side=one_side)
    assert (model.descriptor.nets[0][1] is model.descriptor.nets[1][1]) == one_side
    out = model.evaluate(coord, cell, atype)
    e_ref, atom_ref = reference_energy(model.serialize(), coord, cell, atype)
    assert abs(out["energy"] - e_ref) < 1e-10
    np.testing.assert_allclose(out["atom_energy"], atom_ref, atol=1e-11)


def test_forces_are_minus_energy_gradient(model, water):
    assert inv.force_vs_finite_difference(evaluator(model), *water, atoms=[0, 5, 23]) < 1e-7


def test_virial_is_strain_derivative(model, water):
    assert inv.virial_vs_strain_derivative(evaluator(model), *water) < 1e-7


def test_rotation_translation_invariance(model, water):
    err = inv.rotation_translation_error(evaluator(model), *water, np.random.default_rng(0))
    assert err < 1e-10


def test_permutation_invariance(model, water):
    err = inv.permutation_error(evaluator(model), *water, np.random.default_rng(1))
    assert err < 1e-10


def test_extensive_for_far_apart_copies(model, water):
    coord, _, atype = water
    cluster = coord[:9] - coord[:9].mean(axis=0)
    assert inv.extensivity_error(evaluator(model), cluster, atype[:9], separation=50.0) < 1e-10


@pytest.mark.parametrize("types", [(0, 0), (0, 1), (1, 1)])
def test_smooth_at_cutoff(model, types):
    d_e, d_f = inv.cutoff_smoothness(evaluator(model), SMALL["rcut"], types)
    assert d_e < 1e-6 and d_f < 1e-4


def test_padding_width_does_not_change_results(model, water):
    coord, cell, atype = water
    base = model.evaluate(coord, cell, atype)
    # a second, far-apart frame with more neighbours widens the batch's sections
    batch = model.make_batch([coord, coord], [cell, cell * 0.9], [atype, atype])
    out = model(batch)
    assert batch.widths != build_neighbor_list(coord, cell, atype, 4.0, (40, 80)).widths
    assert abs(out["energy"][0].item() - base["energy"]) < 1e-10


def test_float32_close_to_float64(water):
    coord, cell, atype = water
    m64, m32 = make_model("float64"), make_model("float32")
    e64, e32 = m64.evaluate(coord, cell, atype), m32.evaluate(coord, cell, atype)
    assert abs(e64["energy"] - e32["energy"]) < 1e-3 * abs(e64["energy"])
    np.testing.assert_allclose(e32["force"], e64["force"], atol=1e-3)


def test_serialize_round_trip(model, water, tmp_path):
    torch.save(model.serialize(), tmp_path / "m.pt")
    again = DeepPot.deserialize(torch.load(tmp_path / "m.pt", weights_only=False))
    a, b = model.evaluate(*water), again.evaluate(*water)
    assert a["energy"] == b["energy"]
    assert np.array_equal(a["force"], b["force"])


def test_neighbor_overflow_names_count_and_fix(water):
    coord, cell, atype = water
    with pytest.raises(NeighborOverflowError, match=r"raise model.sel to at least \[\d+, 80\]"):
        build_neighbor_list(coord, cell, atype, 4.0, (3, 80))


def test_same_seed_same_model():
    a, b = DeepPot(DeepPotSpec(**SMALL, seed=7)), DeepPot(DeepPotSpec(**SMALL, seed=7))
    c = DeepPot(DeepPotSpec(**SMALL, seed=8))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
