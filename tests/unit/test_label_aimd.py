"""Initial data by CP2K MD (hpcml.label.aimd): real GFN1-xTB runs on a 4-molecule box."""

import shutil

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.label import label_frames
from hpcml.label.aimd import AimdError, AimdTask, read_aimd, run_aimd_tasks, scf_unconverged
from hpcml.label.cp2k.input import CP2KTemplate
from hpcml.label.cp2k.program import find_cp2k
from hpcml.label.profiles import load_profile
from hpcml.label.runner import RunSettings
from hpcml.label.samples import water_box
from hpcml.label.templates import builtin_template_path
from hpcml.parallel import Context

pytestmark = pytest.mark.skipif(shutil.which("cp2k.psmp") is None,
                                reason="cp2k.psmp not installed")


@pytest.fixture(scope="module")
def md_run(tmp_path_factory):
    """6 steps of NVT MD at 300 K; frames kept at steps 2, 4, 6."""
    program = find_cp2k()
    template = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    box = water_box(4, 0)
    f = box.frame(0)
    task = AimdTask("t", temperature=300.0, steps=6, dt=0.5, every=2, skip=2, seed=5, tau=20.0,
                    start_temperature=600.0)
    out = tmp_path_factory.mktemp("aimd")
    launch = RunSettings(program.path, load_profile("local"), timeout=300)
    frames = run_aimd_tasks(Context.create(serial=True), launch, template, [task], out,
                            [(f["cell"], f["coord"], f["atype"])], box.type_map)[0]
    return out, task, frames, box, launch, template


def test_md_frames_are_sampled_as_asked(md_run):
    out, task, frames, box, *_ = md_run
    assert frames["frame_id"].tolist() == [2, 4, 6] == list(range(2, 7, 2))
    assert frames.n_frames == task.n_kept == 3
    assert AimdTask("x", 300.0, 44, 0.5, 3, 5, 1, 20.0).n_kept == len(range(6, 45, 3))
    np.testing.assert_array_equal(frames["cell"][0], box["cell"][0])
    assert not np.allclose(frames["coord"][:12], box["coord"])       # the atoms moved
    assert np.all(np.isfinite(frames["force"]))
    for k in range(3):                                  # Newton's third law in each frame
        np.testing.assert_allclose(frames["force"][12 * k:12 * (k + 1)].sum(0), 0, atol=1e-3)


def test_md_labels_equal_the_single_point_labeler(md_run, tmp_path):
    """The MD's own energies and forces are what `hpcml label` gives the same frames."""
    _, _, frames, *_ = md_run
    section = parse_config({"label": {"workdir": str(tmp_path / "w"),
                                      "out": str(tmp_path / "l.h5")}}).label
    unlabeled = frames.select(range(3))
    arrays = {k: v for k, v in unlabeled.arrays.items() if k not in ("energy", "force")}
    from hpcml.io import Frames
    from hpcml.io.store import read_frames

    label_frames(Context.create(serial=True), section, Frames(frames.type_map, arrays))
    single = read_frames(tmp_path / "l.h5")
    np.testing.assert_allclose(single["energy"], frames["energy"], atol=2e-4)      # eV
    np.testing.assert_allclose(single["force"], frames["force"], atol=2e-3)        # eV/A


def test_initial_velocities_at_the_start_temperature(md_run):
    out, *_ = md_run
    first = np.loadtxt(out / "t" / "aimd-1.ener", ndmin=2)[0]
    assert first[3] == pytest.approx(600.0, rel=0.02)        # K, CP2K's own count of dof


def test_finished_task_is_not_run_again(md_run):
    out, task, frames, box, launch, template = md_run
    log = out / "t" / "cp2k.log"
    stamp = log.stat().st_mtime_ns
    f = box.frame(0)
    again = run_aimd_tasks(Context.create(serial=True), launch, template, [task], out,
                           [(f["cell"], f["coord"], f["atype"])], box.type_map)[0]
    assert log.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again["force"], frames["force"])


def test_unconverged_steps_and_explosions_are_dropped_or_named(md_run, tmp_path):
    text = "SCF run converged\nSCF run NOT converged\nSCF run converged\nSCF run NOT converged"
    assert scf_unconverged(text) == {1, 3}
    out, task, frames, box, *_ = md_run
    work = tmp_path / "t"
    shutil.copytree(out / "t", work)
    log = (work / "cp2k.log").read_text()
    first = log.index("SCF run converged")
    marks = [i for i in range(len(log)) if log.startswith("SCF run converged", i)]
    assert first == marks[0] and len(marks) == 7                     # steps 0..6
    at = marks[4]                                                    # step 4 unconverged
    (work / "cp2k.log").write_text(log[:at] + "SCF run NOT converged" +
                                   log[at + len("SCF run converged"):])
    f = box.frame(0)
    kept = read_aimd(work, task, f["cell"], f["atype"], box.type_map)
    assert kept["frame_id"].tolist() == [2, 6]
    pos = (work / "aimd-frc-1.xyz").read_text().splitlines()
    pos[2] = "  O  3.0  0.0  0.0"                                    # 154 eV/A: exploded
    (work / "aimd-frc-1.xyz").write_text("\n".join(pos) + "\n")
    bad = AimdTask("t", 300.0, 6, 0.5, 2, 0, 5, 20.0)
    with pytest.raises(AimdError, match="exploded"):
        read_aimd(work, bad, f["cell"], f["atype"], box.type_map)


def test_failing_cp2k_names_the_reason(tmp_path):
    program = find_cp2k()
    template = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    box = water_box(4, 0)
    f = box.frame(0)
    launch = RunSettings(program.path, load_profile("local"), timeout=300)
    broken = CP2KTemplate.from_tree(
        {**template.tree, "force_eval": {**template.tree["force_eval"],
                                         "dft": {**template.dft, "charge": 1}}},
        "odd.inp", template.xmlspec)       # an odd electron count without UKS aborts
    task = AimdTask("t", 300.0, 4, 0.5, 2, 0, 5, 20.0)
    with pytest.raises(AimdError, match="CP2K MD failed: .*"):
        run_aimd_tasks(Context.create(serial=True), launch, broken, [task], tmp_path,
                       [(f["cell"], f["coord"], f["atype"])], box.type_map)


def test_load_labeler_merges_a_patch_into_a_copy():
    from hpcml.label.driver import load_labeler

    section = parse_config({"label": {}}).label
    patch = {"force_eval": {"dft": {"scf": {"eps_scf": 1e-6}}}}
    _, patched = load_labeler(section, ["O", "H"], patch)
    _, plain = load_labeler(section, ["O", "H"])
    assert patched.dft["scf"]["eps_scf"] == 1e-6 and plain.dft["scf"]["eps_scf"] == 1e-7
    assert patched.text_hash != plain.text_hash
    assert patched.source == plain.source == "built-in GFN1-xTB (inputs/cp2k/xtb.inp)"
