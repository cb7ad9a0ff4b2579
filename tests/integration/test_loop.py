"""End to end: ``hpcml run`` on a tiny water box with real CP2K xTB labels.

The killed run is stopped with SIGKILL (the whole process group, as a batch
system does) at random moments and re-run until it finishes; it must end
with the same labeled frames and the same ensemble as a run never killed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpcml.explore.perturb import water_box
from hpcml.explore.system import load_structure
from hpcml.io import Frames
from hpcml.io.extxyz import write_extxyz
from hpcml.io.store import read_frames
from hpcml.testing.loop import make_run

pytestmark = [pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="needs CP2K"),
              pytest.mark.slow]
HPCML = Path(sys.executable).with_name("hpcml")

def env():
    out = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    out.pop("HPCML_NO_MPI", None)
    return out


def run(config: Path, *extra, kill_after: float | None = None):
    """Run ``hpcml run``; with ``kill_after``, SIGKILL its process group then."""
    proc = subprocess.Popen([str(HPCML), "run", str(config), "--no-report", *extra],
                            cwd=config.parent, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=kill_after if kill_after else 600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
    return proc.returncode, out


def journal(workdir: Path) -> dict:
    stages = {}
    for line in (workdir / "journal.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec["event"] == "done":
            stages[rec["stage"]] = rec["summary"]
    return stages


def labeled(workdir: Path) -> list[Frames]:
    paths = [workdir / "init" / "labeled.h5", *sorted(workdir.glob("iter.*/02.label/labeled.h5")),
             *sorted(workdir.glob("iter.*/03.check/labeled.h5"))]
    return [read_frames(p) for p in paths if p.exists()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    config = make_run(tmp_path_factory.mktemp("reference"))
    t0 = time.perf_counter()
    rc, out = run(config)
    assert rc == 0, out
    return config.parent / "run", time.perf_counter() - t0, out


def test_loop_runs_end_to_end(reference):
    workdir, _, out = reference
    stages = journal(workdir)
    assert set(stages) == {"init", "iter.000/train", "iter.000/explore", "iter.000/label",
                           "iter.001/train", "iter.001/explore", "iter.001/check"}
    assert stages["init"]["n_labeled"] == 3 and stages["init"]["n_heldout"] == 2
    for i in (0, 1):                     # every ensemble tested on the held-out set
        held = stages[f"iter.{i:03d}/train"]["heldout"]
        assert held["frames"] == 2 and np.isfinite(held["force_rmse_eV_per_A"])
        assert stages[f"iter.{i:03d}/explore"]["trust_lo"] == 0.02     # absolute levels
    explore = stages["iter.000/explore"]
    assert explore["frames_checked"] == 7          # steps 0, 5, ..., 30
    assert sum(explore["counts"].values()) == 7
    assert stages["iter.000/label"]["n_labeled"] == explore["selected"] > 0
    assert stages["iter.001/train"]["finetune"] is True
    # the second iteration trains on the init labels plus the first iteration's
    assert stages["iter.001/train"]["n_train"] + stages["iter.001/train"]["n_valid"] == \
        3 + stages["iter.000/label"]["n_labeled"]
    assert np.isfinite(stages["iter.001/check"]["force_rmse_eV_per_A"])
    assert "hpcml run: not converged after 2 iteration(s)" in out
    frames = read_frames(workdir / "iter.000" / "02.label" / "labeled.h5")
    assert (frames["iteration"] == 0).all() and np.isfinite(frames["force"]).all()


def test_status_and_report(reference, tmp_path):
    from hpcml.cli.main import main

    workdir = reference[0]
    proc = subprocess.run([str(HPCML), "status", str(workdir), "--json"], capture_output=True,
                          text=True, env=env(), check=True)
    info = json.loads(proc.stdout)
    assert info["finished"] and not info["converged"] and info["running"] is None
    assert info["explored_frames"] == 14 and info["init_labeled"] == 3
    assert info["heldout_frames"] == 2
    for row in info["iterations"]:
        assert (row["trust_lo"], row["trust_hi"]) == (0.02, 50.0)
        assert row["heldout"]["frames"] == 2 and "fractions" in row
    assert main(["report", str(workdir), "--out", str(tmp_path)]) == 0
    for name in ("deviation.png", "fractions.png", "learning.png", "growth_time.png",
                 "heldout.png", "summary.md"):
        assert (tmp_path / name).stat().st_size > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "**Verdict:** not converged after 2 iteration(s)" in summary


def test_rerun_of_finished_run_does_nothing(reference):
    workdir, _, _ = reference
    before = (workdir / "journal.jsonl").read_text()
    rc, out = run(workdir.parent / "tiny.yaml")
    assert rc == 0, out
    after = (workdir / "journal.jsonl").read_text()
    new = [json.loads(x) for x in after[len(before):].splitlines()]
    assert [r["event"] for r in new] == ["run-start", "run-end"]   # no stage ran again


def test_changed_config_is_refused(reference, tmp_path):
    workdir, _, _ = reference
    config = workdir.parent / "tiny.yaml"
    changed = workdir.parent / "changed.yaml"
    changed.write_text(config.read_text().replace("steps: 150", "steps: 151"))
    rc, out = run(changed)
    assert rc == 2
    assert "was made by another config" in out and "train.steps" in out
    assert "--continue-changed" in out


def test_kill_at_random_moments_and_resume(reference, tmp_path):
    ref_dir, seconds, _ = reference
    config = make_run(tmp_path)
    rng = np.random.default_rng(int(time.time()))
    kills = sorted(rng.uniform(3.0, max(4.0, 0.9 * seconds), size=3))
    print("kill times (s):", kills)
    for delay in kills:
        rc, out = run(config, kill_after=delay)
        assert rc in (None, 0), out
    rc, out = run(config)
    assert rc == 0, out
    workdir = tmp_path / "run"
    ref_stages, stages = journal(ref_dir), journal(workdir)
    assert set(stages) == set(ref_stages)
    for name in ("iter.000/explore", "iter.001/explore"):
        for key in ("frames_checked", "counts", "candidates", "selected"):
            assert stages[name][key] == ref_stages[name][key], (name, key)
    # the same frames, labeled once each, with the same labels
    for got, want in zip(labeled(workdir), labeled(ref_dir), strict=True):
        assert len(got) == len(want)
        for key in ("coord", "cell", "energy", "force"):
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-8)
    from hpcml.molecular.committee import Committee

    f = labeled(ref_dir)[0].frame(0)
    a = Committee.load(workdir / "iter.001" / "00.train" / "ensemble.pt").evaluate(
        f["coord"], f["cell"], f["atype"])
    b = Committee.load(ref_dir / "iter.001" / "00.train" / "ensemble.pt").evaluate(
        f["coord"], f["cell"], f["atype"])
    np.testing.assert_allclose(a["force"], b["force"], rtol=0, atol=1e-8)


def test_more_iterations_continue_a_finished_run(reference):
    """Raising --max-iterations labels the old last iteration, runs a new one, checks again."""
    workdir, _, _ = reference
    rc, out = run(workdir.parent / "tiny.yaml", "--max-iterations", "3")
    assert rc == 0, out
    stages = journal(workdir)
    assert {"iter.001/label", "iter.002/train", "iter.002/explore",
            "iter.002/check"} <= set(stages)
    assert stages["iter.002/train"]["n_train"] + stages["iter.002/train"]["n_valid"] == \
        3 + stages["iter.000/label"]["n_labeled"] + stages["iter.001/label"]["n_labeled"]
    assert "after 3 iteration(s)" in out


def test_md_init_and_error_trust_levels(tmp_path):
    """loop.init.mode md (CP2K MD + held-out MD from its own structure), error trust levels."""
    config = make_run(tmp_path)
    other = water_box(2, seed=11)
    write_extxyz(Frames(other.type_map, {"natoms": [other.n_atoms], "cell": other.cell[None],
                                         "coord": other.positions, "atype": other.types}),
                 tmp_path / "other.xyz")
    text = config.read_text().replace(
        "init: {mode: perturb, structures: [box.xyz], n_perturbed: 3, atom_perturb: 0.05}",
        "init: {structures: [box.xyz], heldout_structures: [other.xyz], steps: 6, every: 2, "
        "skip: 2, heldout_steps: 4}\n"
        "  trust: {mode: error, lo_factor: 2.0, hi_factor: 5.0, lo_min: 0.01, hi_min: 0.1}"
    ).replace("max_iterations: 2", "max_iterations: 1").replace("check_frames: 1",
                                                                  "check_frames: 0")
    config.write_text(text)
    rc, out = run(config)
    assert rc == 0, out
    stages = journal(config.parent / "run")
    init = stages["init"]
    assert (init["mode"], init["n_labeled"], init["n_heldout"]) == ("md", 3, 2)  # 2,4,6 | 2,4
    trained = stages["iter.000/train"]
    e = trained["valid_force_rmse"]
    assert trained["trust_lo"] == pytest.approx(max(0.01, 2 * e))
    assert trained["trust_hi"] == pytest.approx(max(0.1, 5 * e))
    assert stages["iter.000/explore"]["trust_lo"] == trained["trust_lo"]
    assert trained["heldout"]["frames"] == 2
    held = read_frames(config.parent / "run" / "init" / "heldout.h5")
    train = read_frames(config.parent / "run" / "init" / "labeled.h5")
    assert not np.allclose(held["coord"][:24], train["coord"][:24])   # independent runs
    start = (config.parent / "run" / "init" / "md" / "heldout_0_300K" / "cp2k.inp").read_text()
    x, y, z = load_structure(tmp_path / "other.xyz", 0, ["O", "H"]).positions[0]
    assert f"{x:.10f} {y:.10f} {z:.10f}" in start       # the held-out run's own start
