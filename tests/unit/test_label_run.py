"""Real CP2K (GFN1-xTB) jobs on tiny water boxes: end to end, retries, budget, rerun."""

import json
import shutil

import numpy as np
import pytest
import yaml

from hpcml.cli.main import main
from hpcml.config import parse_config
from hpcml.io import read_any
from hpcml.io.store import write_frames
from hpcml.label import FailureBudgetError, label_frames, read_provenance
from hpcml.label.cp2k.input import CP2KTemplate
from hpcml.label.cp2k.program import find_cp2k
from hpcml.label.profiles import load_profile
from hpcml.label.runner import RunSettings, Structure, read_marker, run_task
from hpcml.label.samples import water_box
from hpcml.label.templates import XTB_TEMPLATE, builtin_template_path
from hpcml.parallel import Context

pytestmark = pytest.mark.skipif(shutil.which("cp2k.psmp") is None,
                                reason="cp2k.psmp not installed")


@pytest.fixture(scope="module")
def boxes():
    return water_box(4, [0, 1])  # 2 frames of 12 atoms


def section(tmp_path, **kw):
    data = {"workdir": str(tmp_path / "work"), "out": str(tmp_path / "labeled.h5"), **kw}
    return parse_config({"label": data}).label


def ctx():
    return Context.create(serial=True)


def test_cli_end_to_end_real_cp2k(tmp_path, boxes, capsys):
    write_frames(tmp_path / "cand.h5", boxes)
    cfg = tmp_path / "label.yaml"
    cfg.write_text(yaml.safe_dump({"label": {
        "candidates": "cand.h5", "virial": True, "out": str(tmp_path / "out.h5"),
        "workdir": str(tmp_path / "work"), "export_extxyz": str(tmp_path / "out.xyz"),
        "export_deepmd": str(tmp_path / "npy")}}))
    assert main(["label", str(cfg), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_labeled"] == 2 and summary["n_failed"] == 0
    assert summary["method"] == "GFN1-xTB" and summary["cp2k"].startswith("CP2K 2023")
    assert summary["overhead"] < 0.5
    labeled = read_any(tmp_path / "out.h5")
    assert labeled.keys == ("natoms", "cell", "energy", "virial", "coord", "atype", "force",
                            "frame_id")
    np.testing.assert_array_equal(labeled["coord"], boxes["coord"])
    assert np.all(labeled["energy"] < -400) and np.all(np.isfinite(labeled["force"]))
    np.testing.assert_allclose(labeled["force"][:12].sum(0), 0, atol=1e-4)  # Newton's 3rd law
    prov = read_provenance(tmp_path / "out.h5")["batches"][0]
    assert prov["method"] == "GFN1-xTB" and prov["cp2k_version"].startswith("2023")
    assert len(prov["input_hash"]) == 64 and prov["n_labeled"] == 2
    xyz, npy = read_any(tmp_path / "out.xyz"), read_any(next((tmp_path / "npy").iterdir()))
    np.testing.assert_allclose(xyz["energy"], labeled["energy"])
    np.testing.assert_allclose(npy["force"], labeled["force"])
    # scratch archived: one marker + one gzipped log per task, no task directories
    names = sorted(p.name for p in (tmp_path / "work" / "g0000").iterdir())
    assert names == ["t000000.log.gz", "t000000.npz", "t000001.log.gz", "t000001.npz"]


def test_virial_matches_strain_derivative(tmp_path):
    """trace(virial) = -dE/d(eps) for a uniform strain eps (finite difference)."""
    frames = water_box(2, 0)
    program = find_cp2k()
    tpl = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    settings = RunSettings(cp2k=program.path, profile=load_profile("local"), virial=True)
    results = {}
    for k, scale in enumerate((1.0, 1.0 + 1e-4, 1.0 - 1e-4)):
        s = Structure(k, frames["cell"][0] * scale, frames["coord"] * scale, ("O", "H", "H") * 2)
        assert run_task(tpl, s, settings, tmp_path)["ok"]
        results[scale] = read_marker(tmp_path / "g0000" / f"t{k:06d}.npz")
    fd = -(results[1 + 1e-4]["energy"] - results[1 - 1e-4]["energy"]) / 2e-4
    assert np.trace(results[1.0]["virial"]) == pytest.approx(fd, rel=2e-2, abs=2e-3)


def custom_template(tmp_path, max_scf):
    path = tmp_path / "tpl.inp"
    path.write_text(XTB_TEMPLATE.replace("MAX_SCF 100", f"MAX_SCF {max_scf}"))
    return str(path)


def test_retry_with_changed_setting_recovers(tmp_path, boxes):
    sec = section(tmp_path, template=custom_template(tmp_path, 2),
                  retries=[{"force_eval": {"dft": {"scf": {"max_scf": 100}}}}])
    summary = label_frames(ctx(), sec, boxes.select([0]))
    assert summary.n_labeled == 1
    marker = read_marker(tmp_path / "work" / "g0000" / "t000000.npz")
    assert marker["ok"] and int(marker["attempts"]) == 2


def test_failure_budget_stops_with_summary(tmp_path, boxes):
    sec = section(tmp_path, template=custom_template(tmp_path, 2), retries=[],
                  ratio_failed=0.5)
    with pytest.raises(FailureBudgetError, match=r"2 of 2 frames failed.*\n  2 x SCF run NOT"):
        label_frames(ctx(), sec, boxes)
    assert not (tmp_path / "labeled.h5").exists()
    failed = json.loads((tmp_path / "work" / "failed.json").read_text())
    assert failed == {"0": "SCF run NOT converged", "1": "SCF run NOT converged"}


def test_rerun_does_only_missing_tasks(tmp_path, boxes):
    sec = section(tmp_path)
    first = label_frames(ctx(), sec, boxes)
    assert first.n_run == 2
    (tmp_path / "work" / "g0000" / "t000001.npz").unlink()  # as if killed during task 1
    again = label_frames(ctx(), sec, boxes)
    assert again.n_run == 1 and again.n_labeled == 2
    np.testing.assert_allclose(read_any(tmp_path / "labeled.h5")["energy"],
                               read_any(tmp_path / "labeled.h5")["energy"])
    assert label_frames(ctx(), sec, boxes).n_run == 0


def test_append_skips_a_batch_already_appended(tmp_path, boxes):
    sec = section(tmp_path, append=True)
    label_frames(ctx(), sec, boxes.select([0]))
    label_frames(ctx(), sec, boxes.select([0]))
    assert read_any(tmp_path / "labeled.h5").n_frames == 1
    sec2 = section(tmp_path, append=True, workdir=str(tmp_path / "work2"))
    label_frames(ctx(), sec2, boxes.select([1]))
    assert read_any(tmp_path / "labeled.h5").n_frames == 2
    assert len(read_provenance(tmp_path / "labeled.h5")["batches"]) == 2


def test_timeout_and_missing_binary_fail_the_task(tmp_path, boxes):
    program = find_cp2k()
    tpl = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    s = Structure(0, boxes["cell"][0], boxes["coord"][:12], ("O", "H", "H") * 4)
    res = run_task(tpl, s, RunSettings(cp2k=program.path, profile=load_profile("local"),
                                       timeout=0.05), tmp_path)
    assert not res["ok"] and "timed out after 0.05 s" in res["reason"]
    res = run_task(tpl, s, RunSettings(cp2k="/nonexistent/cp2k", profile=load_profile("local"),
                                       retries=({},)), tmp_path / "b")
    assert not res["ok"] and "cannot start" in res["reason"] and res["attempts"] == 2


def test_cli_bad_input_exit_2(tmp_path, boxes, capsys):
    write_frames(tmp_path / "cand.h5", boxes)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"label": {"candidates": "cand.h5",
                                             "cp2k": "/nonexistent/cp2k.psmp"}}))
    assert main(["label", str(cfg)]) == 2
    assert "apt-get install cp2k" in capsys.readouterr().err
    nocell = boxes.select([0])
    nocell.arrays["cell"][:] = 0
    write_frames(tmp_path / "nocell.h5", nocell)
    assert main(["label", str(cfg), "--candidates", str(tmp_path / "nocell.h5")]) == 2
    assert "frame 0: the cell is zero" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "empty.yaml")]) == 2


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_mpirun_profile_launches_each_task_as_its_own_mpi_job(tmp_path, monkeypatch):
    """The `mpirun` launch profile: cp2k.psmp on 2 MPI ranks per task gives the local labels."""
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    monkeypatch.setenv("OMPI_MCA_rmaps_base_oversubscribe", "1")
    frames = water_box(2, 0)
    program = find_cp2k()
    tpl = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    s = Structure(0, frames["cell"][0], frames["coord"], ("O", "H", "H") * 2)
    out = {}
    for name, ranks in (("local", 1), ("mpirun", 2)):
        settings = RunSettings(cp2k=program.path, profile=load_profile(name), ranks=ranks)
        assert run_task(tpl, s, settings, tmp_path / name)["ok"]
        out[name] = read_marker(tmp_path / name / "g0000" / "t000000.npz")
    np.testing.assert_allclose(out["mpirun"]["energy"], out["local"]["energy"], atol=1e-6)
    np.testing.assert_allclose(out["mpirun"]["force"], out["local"]["force"], atol=1e-4)
