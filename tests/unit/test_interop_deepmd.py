"""DeePMD-kit model interop: export to .dp, import from .dp, checked by DeePMD-kit itself.

The tests marked ``deepmd`` run DeePMD-kit 3.2.0 from its side environment
(launch/deepmd-env.sh) and skip, saying so, when it is absent.
"""

import copy
import textwrap

import numpy as np
import pytest
import torch

from hpcml.cli.main import main
from hpcml.io import read_any
from hpcml.io.deepmd_hdf5 import write_deepmd_hdf5
from hpcml.io.dpfile import read_dp, write_dp
from hpcml.molecular.committee import Committee
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water
from hpcml.testing.deepmd import MISSING, deepmd_env, read_detail, run_dp, run_side
from hpcml.train.data import load_frames, split_validation
from hpcml.train.deepmd_export import ExportError, file_dict
from hpcml.train.deepmd_import import ImportModelError, load_deepmd
from hpcml.train.distributed import make_averager
from hpcml.train.loss import ExpDecay
from hpcml.train.trainer import Trainer, TrainOptions

WATER = embedded_water()
N_FRAMES = 4


def spec(type_one_side=True, **kw):
    return DeepPotSpec(**{"rcut": 4.0, "sel": (30, 60), "neuron": (8, 16, 16), "axis_neuron": 4,
                          "fitting_neuron": (24, 24), "type_one_side": type_one_side,
                          "seed": 7, **kw})


@pytest.fixture(scope="module")
def frames():
    train, valid = split_validation(load_frames([WATER], spec()), 0.1)
    return train[:4], valid[:1]


@pytest.fixture(scope="module")
def members(frames, tmp_path_factory):
    """Members trained for two steps (data statistics, energy bias, moved weights):
    one embedding net per neighbour type, and one per type pair."""
    ctx = Context.create(serial=True)
    opts = TrainOptions(steps=2, schedule=ExpDecay(1e-3, 1e-4, 2, 1), disp_freq=2, save_freq=2)
    out = {}
    for name, one_side in (("one_side", True), ("pair_nets", False)):
        trainer = Trainer(DeepPot(spec(one_side)), *frames, opts, ctx, make_averager(ctx),
                          tmp_path_factory.mktemp("train"))
        trainer.initialize_from_data()
        trainer.run()
        out[name] = trainer.model
    return out


@pytest.fixture(params=["one_side", "pair_nets"])
def member(request, members):
    return members[request.param]


def predictions(model, n=N_FRAMES):
    frames = read_any(WATER).with_type_map(list(model.spec.type_map))
    out = [model.evaluate(*(frames.frame(i)[k] for k in ("coord", "cell", "atype")))
           for i in range(n)]
    return (np.array([o["energy"] for o in out]), np.concatenate([o["force"] for o in out]),
            np.array([o["virial"] for o in out]))


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_round_trip_is_exact(member, tmp_path):
    path = write_dp(tmp_path / "m.dp", file_dict(member))
    back = load_deepmd(read_dp(path), str(path))
    assert back.spec == member.spec and back.dtype == member.dtype
    a, b = state(member), state(back)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for x, y in zip(predictions(member, 2), predictions(back, 2)):
        assert np.array_equal(x, y)


def test_cli_export_import_members(member, tmp_path, capsys):
    ens = Committee([member, member]).save(tmp_path / "ensemble.pt")
    assert main(["export", str(ens), "--out", str(tmp_path / "graph.dp")]) == 0
    assert sorted(p.name for p in tmp_path.glob("graph.*.dp")) == ["graph.000.dp",
                                                                   "graph.001.dp"]
    assert main(["export", str(ens), "--member", "1", "--out", str(tmp_path / "g1.dp")]) == 0
    assert main(["import", str(tmp_path / "graph.000.dp"), str(tmp_path / "g1.dp"),
                 "--out", str(tmp_path / "back.pt")]) == 0
    assert "2 member(s)" in capsys.readouterr().out
    back = Committee.load(tmp_path / "back.pt")
    assert len(back) == 2 and back.info["imported_from"][1]["software"] == "hpcml"
    assert all(torch.equal(state(back.models[1])[k], v) for k, v in state(member).items())
    # existing output, bad suffix, bad member: exit 2 with the option named
    assert main(["export", str(ens), "--member", "1", "--out", str(tmp_path / "g1.dp")]) == 2
    assert main(["export", str(ens), "--out", str(tmp_path / "g.pb")]) == 2
    assert main(["export", str(ens), "--member", "5", "--out", str(tmp_path / "x.dp")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "name the file g.dp" in err and "members 0..1" in err


def test_export_refuses_a_doubling_fitting_layer(tmp_path):
    model = DeepPot(spec(neuron=(4, 8), axis_neuron=2, fitting_neuron=(16, 32)))
    with pytest.raises(ExportError, match=r"width doubles \(16 -> 32.*residual \[x, x\]"):
        file_dict(model)
    Committee([model]).save(tmp_path / "e.pt")
    assert main(["export", str(tmp_path / "e.pt"), "--out", str(tmp_path / "e.dp")]) == 2
    assert not (tmp_path / "e.dp").exists()


def test_import_names_unsupported_features(member, tmp_path, capsys):
    good = file_dict(member)
    cases = [
        (("model", "descriptor", "type"), "dpa1", "descriptor 'dpa1'"),
        (("model", "type"), "zbl", "model type 'zbl'"),
        (("model", "fitting", "numb_fparam"), 2, "fitting numb_fparam = 2"),
        (("model", "descriptor", "activation_function"), "gelu", "activation_function 'gelu'"),
        (("model", "pair_exclude_types"), [[0, 1]], "pair_exclude_types"),
    ]
    for keys, value, named in cases:
        data = copy.deepcopy(good)
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        with pytest.raises(ImportModelError, match=named) as exc:
            load_deepmd(data, "m.dp")
        assert "se_e2_a" in str(exc.value)
    data = copy.deepcopy(good)
    data["model"]["descriptor"]["@variables"]["davg"][0, 3, 0] += 1.0
    with pytest.raises(ImportModelError, match="davg differs between neighbour slots"):
        load_deepmd(data, "m.dp")
    data = copy.deepcopy(good)
    data["model"]["descriptor"]["type"] = "se_e2_r"
    write_dp(tmp_path / "r.dp", data)
    assert main(["import", str(tmp_path / "r.dp"), "--out", str(tmp_path / "r.pt")]) == 2
    err = capsys.readouterr().err
    assert "descriptor 'se_e2_r'" in err and "se_e2_a" in err
    (tmp_path / "no.dp").write_text("not hdf5")
    assert main(["import", str(tmp_path / "no.dp"), "--out", str(tmp_path / "r.pt")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err


def test_missing_timestep_imports_as_one(member):
    data = copy.deepcopy(file_dict(member))
    for net in data["model"]["fitting"]["nets"]["networks"]:
        for layer in net["layers"]:
            if layer["@variables"]["idt"] is not None:
                layer["@variables"]["idt"] = None
    model = load_deepmd(data)
    assert all(torch.equal(p, torch.ones_like(p)) for f in model.fitting for p in f.idt)


# -- checked by DeePMD-kit ------------------------------------------------------------


@pytest.fixture(scope="module")
def dp_env():
    env = deepmd_env()
    if env is None:
        pytest.skip(MISSING)
    return env


DP_MODEL = textwrap.dedent("""
    import sys
    import numpy as np
    from deepmd.dpmodel.model.model import get_model
    from deepmd.dpmodel.utils.serialization import save_dp_model
    model = get_model({"type_map": ["O", "H"],
        "descriptor": {"type": "se_e2_a", "sel": [30, 60], "rcut": 4.0, "rcut_smth": 0.5,
                       "neuron": [6, 12], "axis_neuron": 3, "type_one_side": False,
                       "seed": 3},
        "fitting_net": {"neuron": [20, 20, 20], "resnet_dt": True, "seed": 4}})
    data = model.serialize()
    rng = np.random.default_rng(0)
    var = data["descriptor"]["@variables"]
    var["davg"][..., 0] = 0.05 + 0.1 * rng.random((2, 1))
    var["dstd"][...] = 0.5 + rng.random((2, 1, 4))
    data["@variables"]["out_bias"][0, :, 0] = [-93.6, -187.1]
    data["fitting"]["@variables"]["bias_atom_e"][:, 0] = [0.3, -0.2]
    save_dp_model(sys.argv[1], {"model": data, "model_def_script": {}})
""")


def agree(model, detail):
    """Largest |dE| (eV), |dF| (eV/A) and |dW| (eV) between hpcml and ``dp test -d`` files.

    DeePMD-kit's virial is the transpose of hpcml's; both are symmetric for a
    rotation-invariant model (zero angular mean in the statistics, as
    training sets), but the models here need not be, so compare transposed.
    """
    energy, force, virial = predictions(model)
    d_v = detail["v"][:, 9:].reshape(-1, 3, 3) - virial.transpose(0, 2, 1)
    return (float(np.abs(detail["e"][:, 1] - energy).max()),
            float(np.abs(detail["f"][:, 3:] - force).max()), float(np.abs(d_v).max()))


@pytest.mark.slow
def test_deepmd_kit_predicts_what_hpcml_does(members, dp_env, tmp_path):
    """hpcml members exported, and a model made by DeePMD-kit imported: ``dp
    convert-backend`` to .pth and ``dp --pt test`` give hpcml's energies and
    forces to 1e-8 eV and 1e-8 eV/A."""
    (tmp_path / "make.py").write_text(DP_MODEL)
    run_side(dp_env, "python", ["make.py", "dp.dp"], tmp_path)
    assert main(["import", str(tmp_path / "dp.dp"), "--out", str(tmp_path / "dp.pt")]) == 0
    models = {**members, "dp": Committee.load(tmp_path / "dp.pt").models[0]}
    assert not models["dp"].spec.type_one_side
    assert models["dp"].spec.fitting_neuron == (20, 20, 20)
    commands = []
    for name, model in models.items():
        if name != "dp":
            write_dp(tmp_path / f"{name}.dp", file_dict(model))
        commands += [["convert-backend", f"{name}.dp", f"{name}.pth"],
                     ["--pt", "test", "-m", f"{name}.pth", "-s", str(WATER), "-n",
                      str(N_FRAMES), "-d", name]]
    # DeePMD-kit reads hpcml's deepmd/hdf5 systems (FILE.h5#/GROUP) as it reads the npy
    (system,) = write_deepmd_hdf5(read_any(WATER), tmp_path / "w.h5")
    commands.append(["--pt", "test", "-m", "one_side.pth", "-s", system, "-n", str(N_FRAMES),
                     "-d", "h5"])
    run_dp(dp_env, commands, tmp_path)
    h5, npy = read_detail(tmp_path / "h5"), read_detail(tmp_path / "one_side")
    assert np.array_equal(h5["e"], npy["e"]) and np.array_equal(h5["f"], npy["f"])
    for name, model in models.items():
        d_e, d_f, d_v = agree(model, read_detail(tmp_path / name))
        print(f"{name}: max |dE| {d_e:.2e} eV, max |dF| {d_f:.2e} eV/A, max |dW| {d_v:.2e} eV")
        assert d_e < 1e-8 and d_f < 1e-8 and d_v < 1e-8, (name, d_e, d_f, d_v)
    # hpcml test --detail writes what dp test -d does (headers, data and predictions)
    Committee([models["one_side"]]).save(tmp_path / "one.pt")
    assert main(["test", str(tmp_path / "one.pt"), str(WATER), "--detail",
                 str(tmp_path / "h")]) == 0
    for suffix in ("e", "e_peratom", "f"):
        ours = (tmp_path / f"h.{suffix}.out").read_text().splitlines()
        theirs = (tmp_path / f"one_side.{suffix}.out").read_text().splitlines()
        assert ours[0] == theirs[0]
        a, b = np.loadtxt(ours[1:len(theirs)]), np.loadtxt(theirs[1:])
        assert np.array_equal(a[:, :a.shape[1] // 2], b[:, :b.shape[1] // 2])
        assert np.abs(a - b).max() < 1e-8
