"""lcurve.out in DeePMD-kit's column order; the run report reads it (and the old layout)."""

import numpy as np
import pytest

from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water
from hpcml.train.data import load_frames, split_validation
from hpcml.train.distributed import make_averager
from hpcml.train.lcurve import header, read_lcurve
from hpcml.train.loss import ExpDecay, Prefactors
from hpcml.train.trainer import Trainer, TrainOptions
from hpcml.workflow.report import _plot_learning, _pyplot, learning_curves
from hpcml.workflow.rundir import RunDir

SPEC = DeepPotSpec(rcut=4.0, sel=(30, 60), neuron=(8, 16), axis_neuron=4, fitting_neuron=(16,))

# dp --pt train's header (deepmd/pt/train/training.py, print_header), built as it builds it
DP_HEADER = ("# {:5s}".format("step")
             + "".join("   %11s %11s" % (k + "_val", k + "_trn")  # noqa: UP031 (as dp)
                       for k in ("rmse", "rmse_e", "rmse_f"))
             + "   {:8s}\n".format("lr")
             + "# If there is no available reference data, rmse_*_{val,trn} will print nan\n")
OLD = ("#  step   rmse_e_val   rmse_e_trn   rmse_f_val   rmse_f_trn       lr\n"
       "#         (eV/atom)    (eV/atom)     (eV/A)       (eV/A)\n"
       "      5   1.0000e-02   2.0000e-02   3.0000e-01   4.0000e-01  1.000e-03\n")


@pytest.fixture(scope="module")
def frames():
    train, valid = split_validation(load_frames([embedded_water()], SPEC), 0.1)
    return train[:4], valid[:1]


def trainer(frames, out, steps, prefactors=None):
    ctx = Context.create(serial=True)
    opts = TrainOptions(steps=steps, schedule=ExpDecay(1e-3, 1e-4, steps, 2), disp_freq=2,
                        save_freq=2, prefactors=prefactors or Prefactors())
    t = Trainer(DeepPot(SPEC), *frames, opts, ctx, make_averager(ctx), out)
    t.initialize_from_data()
    return t


def test_columns_as_deepmd_kit_writes_them(frames, tmp_path):
    trainer(frames, tmp_path, 4).run()
    text = (tmp_path / "lcurve.out").read_text()
    assert text.startswith(DP_HEADER) and header(False) == DP_HEADER
    named = np.genfromtxt(tmp_path / "lcurve.out", names=True)      # DeePMD-kit's scripts
    assert list(named.dtype.names) == ["step", "rmse_val", "rmse_trn", "rmse_e_val",
                                       "rmse_e_trn", "rmse_f_val", "rmse_f_trn", "lr"]
    assert list(named["step"]) == [2, 4]
    curve = read_lcurve(tmp_path / "lcurve.out")
    assert np.all(curve["rmse_val"] > curve["rmse_f_val"])          # pref_f 1000 > 1
    assert np.all(curve["rmse_e_val"] > 0) and np.all(np.isfinite(curve["rmse_f_trn"]))


def test_virial_columns_when_the_virial_is_trained(frames, tmp_path):
    trainer(frames, tmp_path, 2, Prefactors(start_v=0.02, limit_v=1.0)).run()
    names = (tmp_path / "lcurve.out").read_text().splitlines()[0].split()
    assert names[-3:] == ["rmse_v_val", "rmse_v_trn", "lr"]
    assert np.isnan(read_lcurve(tmp_path / "lcurve.out")["rmse_v_val"]).all()   # no labels


def test_restart_on_an_old_layout_keeps_it_aside(frames, tmp_path):
    t = trainer(frames, tmp_path, 4)
    t.opt.steps = 2
    t.run()
    t.save_checkpoint()
    (tmp_path / "lcurve.out").write_text(OLD)
    t2 = trainer(frames, tmp_path, 4)
    t2.restore(tmp_path / "checkpoint.pt")
    t2.run()
    assert (tmp_path / "lcurve.out.old").read_text() == OLD
    assert list(read_lcurve(tmp_path / "lcurve.out")["step"]) == [4]


def test_report_reads_new_and_old_curves(tmp_path):
    dirs = RunDir(tmp_path)
    new = dirs.train(0) / "member_0" / "lcurve.out"
    old = dirs.train(1) / "member_0" / "lcurve.out"
    for path, text in ((new, DP_HEADER + "      5   1.0e+00 2.0e+00   3.0e-03 4.0e-03   "
                                          "5.0e-01 6.0e-01   1.0e-03\n"), (old, OLD)):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    assert learning_curves(dirs, 0)[0]["rmse_f_val"][0] == 0.5
    assert learning_curves(dirs, 1)[0]["rmse_f_val"][0] == 0.3
    assert learning_curves(dirs, 1)[0]["rmse_e_val"][0] == 0.01
    plt = _pyplot()
    _plot_learning(plt, dirs, {"iterations": [{"iteration": 0}, {"iteration": 1}]}, tmp_path)
    assert (tmp_path / "learning.png").stat().st_size > 0
