"""Trainer: schedule, bias, restart, divergence, data errors, CLI."""

import json
import math

import numpy as np
import pytest
import torch

from hpcml.cli.main import main
from hpcml.errors import DataError
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water
from hpcml.train.data import energy_bias, load_frames, split_validation
from hpcml.train.distributed import make_averager
from hpcml.train.loss import ExpDecay
from hpcml.train.trainer import Trainer, TrainingDivergedError, TrainOptions

EMBEDDED_WATER = embedded_water()

SPEC = DeepPotSpec(rcut=4.0, sel=(30, 60), neuron=(8, 16), axis_neuron=4,
                   fitting_neuron=(16, 16))


@pytest.fixture(scope="module")
def frames():
    return split_validation(load_frames([EMBEDDED_WATER], SPEC), 0.1)


def make_trainer(frames, out, steps=10, lr=(1e-3, 1e-5), **kw):
    ctx = Context.create(serial=True)
    opts = TrainOptions(steps=steps, schedule=ExpDecay(*lr, steps, 5), disp_freq=5,
                        save_freq=5, **kw)
    trainer = Trainer(DeepPot(SPEC), *frames, opts, ctx, make_averager(ctx), out)
    trainer.initialize_from_data()
    return trainer


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_schedule_reaches_stop_lr():
    sched = ExpDecay(1e-3, 3.51e-8, 2000, 5000)
    assert sched.effective_decay_steps == 100       # DeePMD-kit's rule for short runs
    assert sched(0) == 1e-3
    assert math.isclose(sched(2000), 3.51e-8, rel_tol=1e-9)
    assert sched(99) == sched(0) > sched(100)


def test_energy_bias_is_least_squares(frames):
    train, _ = frames
    bias = energy_bias(train, 2)
    counts = np.array([np.bincount(f.atype, minlength=2) for f in train])
    energies = np.array([f.energy for f in train])
    assert abs((counts @ bias - energies).mean()) < 1e-6 * abs(energies.mean())


def test_untrained_model_starts_unbiased(frames, tmp_path):
    trainer = make_trainer(frames, tmp_path)
    assert trainer.validate(frames[0][:8])["rmse_e"] < 0.05      # eV/atom


def test_training_reduces_force_error(frames, tmp_path):
    trainer = make_trainer(frames, tmp_path, steps=150, lr=(1e-2, 1e-3))
    before = trainer.validate(frames[0])["rmse_f"]
    trainer.run()
    after = trainer.validate(frames[0])["rmse_f"]
    assert after < 0.8 * before


def test_restart_continues_exactly(frames, tmp_path):
    straight = make_trainer(frames, tmp_path / "a", steps=10)
    straight.run()
    first = make_trainer(frames, tmp_path / "b", steps=10)
    first.opt.steps = 5
    first.run()
    again = Trainer(DeepPot(SPEC), *frames, straight.opt, first.ctx, first.averager,
                    tmp_path / "b")
    again.restore(tmp_path / "b" / "checkpoint.pt")
    assert again.step == 5
    again.run()
    assert torch.equal(params(again.model), params(straight.model))
    steps = [int(line.split()[0]) for line in (tmp_path / "b" / "lcurve.out").read_text()
             .splitlines() if not line.startswith("#")]
    assert steps == [5, 10]


def test_nan_loss_stops_with_step_and_keeps_checkpoint(frames, tmp_path):
    train, valid = frames
    bad = [*train]
    trainer = make_trainer((bad, valid), tmp_path, steps=10)
    trainer.opt.steps = 5
    trainer.run()
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    for f in bad:
        f.energy = float("nan")
    trainer.opt.steps = 10
    trainer._cache.clear()
    with pytest.raises(TrainingDivergedError, match="at step 5 .*last good checkpoint"):
        trainer.run()
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved


def test_missing_labels_and_unknown_elements(tmp_path, water_frames):
    from hpcml.io.deepmd import write_deepmd_npy

    unlabeled = water_frames.select([0, 1])
    unlabeled = type(unlabeled)(unlabeled.type_map, {k: v for k, v in unlabeled.arrays.items()
                                                     if k not in ("energy", "force")})
    (path,) = write_deepmd_npy(unlabeled, tmp_path / "u")
    with pytest.raises(DataError, match=r"no \['energy', 'force'\] labels"):
        load_frames([path], SPEC)
    with pytest.raises(DataError, match=r"elements \['O'\] are not in type_map"):
        load_frames([EMBEDDED_WATER], DeepPotSpec(type_map=("H", "C"), sel=(90, 2)))


def test_sel_overflow_names_frame(tmp_path):
    spec = DeepPotSpec(rcut=4.0, sel=(5, 60), neuron=(4,), axis_neuron=2, fitting_neuron=(4,))
    with pytest.raises(DataError, match=r"water:0: an atom has \d+ neighbours of type 0"):
        load_frames([EMBEDDED_WATER], spec)


def test_cli_train_then_test(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"""
data: {{type_map: [O, H], systems: ["{EMBEDDED_WATER}"]}}
model: {{rcut: 4.0, sel: [30, 60], neuron: [8, 16], axis_neuron: 4, fitting_neuron: [16]}}
train: {{steps: 6, n_models: 2, disp_freq: 3, save_freq: 3}}
""")
    out = tmp_path / "out"
    assert main(["train", str(cfg), "--out", str(out), "--steps", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(result["metrics"]) == 2
    assert main(["test", str(out / "ensemble.pt"), str(EMBEDDED_WATER), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"energy_rmse_per_atom_meV", "force_rmse_eV_per_A", "frames",
            "members"} <= set(figures)
    assert len(figures["members"]) == 2
    assert figures["frames"] == 20 and figures["force_rmse_eV_per_A"] > 0


def test_batch_of_different_sizes_matches_single_frames(frames):
    from hpcml.molecular.neighbors import build_neighbor_list
    from hpcml.train.data import LabeledFrame, collate

    big = frames[0][0]
    atype = big.atype[60:69]                          # 4 O and 5 H in a 7 A box
    coord = np.random.default_rng(0).uniform(0, 6, size=(9, 3))
    nlist = build_neighbor_list(coord, np.eye(3) * 7.0, atype, SPEC.rcut, SPEC.sel)
    small = LabeledFrame(atype=atype, nlist=nlist, energy=0.0, force=np.zeros((9, 3)),
                         virial=None, source="small")
    model = DeepPot(SPEC)
    both = model(collate([big, small], SPEC, torch.float64).batch)
    alone = [model(collate([f], SPEC, torch.float64).batch) for f in (big, small)]
    assert torch.allclose(both["energy"], torch.cat([a["energy"] for a in alone]), atol=1e-10)


def test_trains_from_hdf5_frame_store(tmp_path, water_frames):
    from hpcml.io.store import write_frames

    path = tmp_path / "labeled.h5"
    write_frames(path, water_frames.select(range(6)))
    train, valid = split_validation(load_frames([path], SPEC), 0.2)
    assert (len(train), len(valid)) == (5, 1)
    assert train[0].energy == float(water_frames["energy"][0])
