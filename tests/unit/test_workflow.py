"""The loop's bookkeeping: journal, run-directory guard, perturbation, status, bad input."""

import json

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.errors import ConfigError, UserError
from hpcml.explore.perturb import perturbed_frames, water_box
from hpcml.workflow.journal import Journal
from hpcml.workflow.rundir import RunDir, claim, config_hash
from hpcml.workflow.status import collect, format_status, verdict


def test_journal_records_and_reloads(tmp_path):
    j = Journal(tmp_path)
    t = j.start("init")
    j.done("init", t, {"n_labeled": 3})
    j.start("iter.000/train")
    again = Journal(tmp_path)
    assert again.is_done("init") and again.summary("init") == {"n_labeled": 3}
    assert not again.is_done("iter.000/train")
    assert again.stages["iter.000/train"].attempts == 1


def test_journal_ignores_a_torn_last_line_and_keeps_appending(tmp_path):
    j = Journal(tmp_path)
    j.done("init", j.start("init"), {"a": 1})
    with (tmp_path / "journal.jsonl").open("a") as fh:
        fh.write('{"event": "done", "stage": "iter.000/tr')      # killed mid-write
    j2 = Journal(tmp_path)
    assert not j2.is_done("iter.000/train")
    j2.done("iter.000/train", j2.start("iter.000/train"), {"b": 2})
    j3 = Journal(tmp_path)
    assert j3.is_done("init") and j3.summary("iter.000/train") == {"b": 2}


def test_journal_reader_does_not_write(tmp_path):
    j = Journal(tmp_path, writable=False)
    j.done("init", j.start("init"), {})
    assert j.is_done("init") and not (tmp_path / "journal.jsonl").exists()


def test_run_directory_refuses_another_config(tmp_path):
    dirs = RunDir(tmp_path / "run")
    a = parse_config({"train": {"steps": 10}}).model_dump(mode="json")
    b = parse_config({"train": {"steps": 11}}).model_dump(mode="json")
    assert claim(dirs, a, "a.yaml", False) is True
    assert claim(dirs, a, "a.yaml", False) is False
    with pytest.raises(ConfigError, match=r"made by another config \(a.yaml\).*train.steps.*"
                                          r"--continue-changed"):
        claim(dirs, b, "b.yaml", False)
    assert claim(dirs, b, "b.yaml", True) is True
    record = json.loads(dirs.run_json.read_text())
    assert record["hash"] == config_hash(b) and record["previous"][0]["source"] == "a.yaml"


def test_mutable_keys_do_not_change_the_hash():
    a = parse_config({"run": {"log_level": "INFO"}, "loop": {"max_iterations": 2}})
    b = parse_config({"run": {"log_level": "DEBUG"}, "loop": {"max_iterations": 7}})
    assert config_hash(a.model_dump(mode="json")) == config_hash(b.model_dump(mode="json"))


def test_perturbed_frames_stay_within_bounds():
    s = water_box(2, seed=1)
    frames = perturbed_frames(s, 5, 0.03, 0.1, np.random.default_rng(0))
    assert len(frames) == 5 and frames["coord"].shape == (5 * s.n_atoms, 3)
    for k in range(5):
        f = frames.frame(k)
        strain = np.linalg.solve(s.cell, f["cell"]) - np.eye(3)
        assert np.abs(strain).max() <= 0.03 + 1e-12
        assert np.allclose(strain, strain.T)
        affine = s.positions @ np.linalg.solve(s.cell, f["cell"])
        moved = np.linalg.norm(f["coord"] - affine, axis=1)
        assert moved.max() <= 0.1 + 1e-12 and moved.min() >= 0


def test_water_box_geometry_and_density():
    s = water_box(3, density=1.0, seed=0)
    assert s.n_atoms == 81 and s.type_map == ["O", "H"]
    o, h1, h2 = s.positions[0::3], s.positions[1::3], s.positions[2::3]
    assert np.allclose(np.linalg.norm(h1 - o, axis=1), 0.9572)
    cos = np.einsum("ij,ij->i", h1 - o, h2 - o) / 0.9572**2
    assert np.allclose(np.degrees(np.arccos(cos)), 104.52)
    mass = 27 * 18.015 / 0.602214076          # amu -> g/cm^3 * A^3
    assert mass / np.linalg.det(s.cell) == pytest.approx(1.0)


def _loop_config(tmp_path, **loop):
    from hpcml.io import Frames
    from hpcml.io.extxyz import write_extxyz

    s = water_box(2)
    write_extxyz(Frames(s.type_map, {"natoms": [s.n_atoms], "cell": s.cell[None],
                                     "coord": s.positions, "atype": s.types}),
                 tmp_path / "box.xyz")
    data = {"data": {"type_map": ["O", "H"]}, "model": {"sel": [46, 92]},
            "loop": {"init": {"structures": [str(tmp_path / "box.xyz")]}, **loop}}
    return data


def test_bad_loop_inputs_are_named():
    with pytest.raises(ConfigError, match="temperatures must be positive"):
        parse_config({"loop": {"schedule": [{"temperatures": [-3.0]}]}})
    with pytest.raises(ConfigError, match=r"loop.schedule\[0\].temperatures"):
        parse_config({"loop": {"schedule": [{"temperatures": []}]}})
    with pytest.raises(ConfigError, match="loop.schedule"):
        parse_config({"loop": {"schedule": []}})


def test_loop_level_checks(tmp_path):
    from hpcml.cli.train import model_spec
    from hpcml.parallel import Context
    from hpcml.workflow.loop import Loop

    ctx = Context.create(serial=True)
    data = _loop_config(tmp_path)
    data["md"] = {"trust_lo": 0.2, "trust_hi": 0.2}
    with pytest.raises(ConfigError, match=r"md: trust_lo \(0.2\) must be below trust_hi"):
        parse_config(data)
    data = _loop_config(tmp_path)
    del data["loop"]["init"]
    config = parse_config(data)
    with pytest.raises(ConfigError, match="no initial data"):
        Loop(ctx, config, model_spec(config), workdir=tmp_path / "r")


def test_unknown_element_in_a_structure_is_named(tmp_path):
    from hpcml.explore.system import load_structure

    (tmp_path / "x.xyz").write_text(
        '1\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3\nNa 0 0 0\n')
    with pytest.raises(UserError, match=r"x.xyz: elements \['Na'\] are not in the model"):
        load_structure(tmp_path / "x.xyz", 0, ["O", "H"])


def _fake_run(tmp_path):
    """A run directory whose journal a real Journal wrote (no stage really ran)."""
    j = Journal(tmp_path)
    j.note("run-start", ranks=1)
    j.done("init", j.start("init"), {"n_labeled": 10})
    for i, acc in enumerate([0.5, 0.9]):
        j.done(f"iter.{i:03d}/train", j.start(f"iter.{i:03d}/train"),
               {"n_train": 9, "n_valid": 1, "metrics": [{"rmse_f": 0.2}]})
        j.done(f"iter.{i:03d}/explore", j.start(f"iter.{i:03d}/explore"), {
            "frames_checked": 100, "fractions": {"accurate": acc, "candidate": 1 - acc,
                                                 "failed": 0.0},
            "candidates": 5, "selected": 4})
    j.done("iter.000/label", j.start("iter.000/label"), {"n_labeled": 4, "n_failed": 0})
    j.start("iter.001/label")
    return j


def test_status_of_an_interrupted_run(tmp_path):
    _fake_run(tmp_path)
    info = collect(tmp_path)
    assert info["running"]["stage"] == "iter.001/label" and not info["finished"]
    assert info["explored_frames"] == 200 and info["labeled_frames"] == 4
    assert info["labeled_fraction"] == pytest.approx(0.02)
    text = format_status(info)
    assert "iter.001/label" in text and "re-run `hpcml run` to resume" in text
    assert verdict(info).startswith("unfinished after 2 iteration(s); accurate fraction "
                                    "50% -> 90%")


def test_status_of_something_else_is_an_error(tmp_path):
    with pytest.raises(UserError, match="not an hpcml run directory"):
        collect(tmp_path)
