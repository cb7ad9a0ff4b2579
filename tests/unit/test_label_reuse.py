"""Reused label workdirs: markers keyed by frame and input, lock, retried failures, messages."""

import os
import shutil
import signal

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.errors import ConfigError
from hpcml.io import read_any
from hpcml.io.lock import DirLock, LockedError
from hpcml.label import FailureBudgetError, label_frames
from hpcml.label.cp2k.input import CP2KTemplate
from hpcml.label.cp2k.program import find_cp2k
from hpcml.label.markers import task_key
from hpcml.label.process import describe_exit
from hpcml.label.profiles import load_profile
from hpcml.label.runner import RunSettings, Structure, read_marker, run_task
from hpcml.label.samples import water_box
from hpcml.label.templates import builtin_template_path
from hpcml.parallel import Context

pytestmark = pytest.mark.skipif(shutil.which("cp2k.psmp") is None,
                                reason="cp2k.psmp not installed")


def section(tmp_path, **kw):
    data = {"workdir": str(tmp_path / "work"), "out": str(tmp_path / "labeled.h5"), **kw}
    return parse_config({"label": data}).label


def ctx():
    return Context.create(serial=True)


@pytest.fixture(scope="module")
def two():
    return water_box(2, 0), water_box(2, 1)  # two different 6-atom frames


def test_task_key_changes_with_frame_and_input():
    cell, coord, sym = np.eye(3) * 5, np.zeros((2, 3)), ("O", "H")
    base = task_key(cell, coord, sym, "abc", False)
    assert base == task_key(cell.copy(), coord.copy(), sym, "abc", False)
    moved = coord.copy()
    moved[1, 0] = 1e-9
    assert len({base, task_key(cell * 1.01, coord, sym, "abc", False),
                task_key(cell, moved, sym, "abc", False),
                task_key(cell, coord, ("H", "O"), "abc", False),
                task_key(cell, coord, sym, "abd", False),
                task_key(cell, coord, sym, "abc", True)}) == 6


def test_other_candidates_in_one_workdir_never_get_the_old_labels(tmp_path, two):
    first, second = two
    label_frames(ctx(), section(tmp_path), first)
    old = read_any(tmp_path / "labeled.h5")["energy"]
    with pytest.raises(ConfigError, match=r"made for other inputs: the candidate frames "
                       r"differ.*--reuse-workdir"):
        label_frames(ctx(), section(tmp_path), second)
    summary = label_frames(ctx(), section(tmp_path, reuse_workdir=True), second)
    assert summary.n_run == 1
    new = read_any(tmp_path / "labeled.h5")
    np.testing.assert_array_equal(new["coord"], second["coord"])
    fresh = label_frames(ctx(), section(tmp_path / "fresh"), second)
    assert fresh.n_run == 1
    np.testing.assert_allclose(new["energy"], read_any(tmp_path / "fresh" / "labeled.h5")
                               ["energy"], atol=1e-8)
    assert abs(new["energy"][0] - old[0]) > 1e-3


def test_virial_in_an_existing_workdir_runs_the_task_again(tmp_path, two):
    label_frames(ctx(), section(tmp_path), two[0])
    with pytest.raises(ConfigError, match="label.virial differ"):
        label_frames(ctx(), section(tmp_path, virial=True), two[0])
    summary = label_frames(ctx(), section(tmp_path, virial=True, reuse_workdir=True), two[0])
    assert summary.n_run == 1 and read_any(tmp_path / "labeled.h5")["virial"].shape == (1, 3, 3)


def test_failed_tasks_are_retried_unless_kept_failed(tmp_path, two):
    frames = two[0]
    with pytest.raises(FailureBudgetError, match="retries the failed ones"):
        label_frames(ctx(), section(tmp_path, timeout=0.01, retries=[]), frames)
    marker = tmp_path / "work" / "g0000" / "t000000.npz"
    assert not read_marker(marker)["ok"]
    stamp = marker.stat().st_mtime_ns
    with pytest.raises(FailureBudgetError):
        label_frames(ctx(), section(tmp_path, keep_failed=True), frames)
    assert marker.stat().st_mtime_ns == stamp  # kept failed: not run again
    summary = label_frames(ctx(), section(tmp_path), frames)
    assert summary.n_run == 1 and summary.n_labeled == 1 and read_marker(marker)["ok"]


def test_a_locked_workdir_is_refused_naming_the_holder(tmp_path, two):
    with DirLock(tmp_path / "work"):
        with pytest.raises(LockedError, match=rf"label.workdir .* is in use by pid "
                           rf"{os.getpid()} on host .*--workdir"):
            label_frames(ctx(), section(tmp_path), two[0])
    assert label_frames(ctx(), section(tmp_path), two[0]).n_labeled == 1


def fake_cp2k(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_one_message_per_cause(tmp_path, two):
    """A missing binary, a crash, a failing command and a collision read differently."""
    program = find_cp2k()
    tpl = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    frames = two[0]
    s = Structure(0, frames["cell"][0], frames["coord"], ("O", "H", "H") * 2)
    local = load_profile("local")
    binaries = {
        "missing": str(tmp_path / "no" / "cp2k.psmp"),
        "crash": fake_cp2k(tmp_path, "crash", "echo starting; kill -SEGV $$"),
        "broken": fake_cp2k(tmp_path, "broken", "echo 'libfoo.so: cannot open' >&2; exit 127"),
        "collision": fake_cp2k(tmp_path, "collide",
                               f"echo other > owner.txt; exec {program.path} \"$@\""),
    }
    reasons = {}
    for cause, binary in binaries.items():
        res = run_task(tpl, s, RunSettings(cp2k=binary, profile=local), tmp_path / "w" / cause)
        assert not res["ok"]
        reasons[cause] = res["reason"]
    assert "binary not found" in reasons["missing"]
    assert "killed by signal SIGSEGV" in reasons["crash"] and "starting" in reasons["crash"]
    assert "command not found" in reasons["broken"] and "libfoo.so" in reasons["broken"]
    assert "reused by another process" in reasons["collision"]
    assert len(set(reasons.values())) == 4
    assert not any("missing or empty CP2K output" in r for r in reasons.values())
    assert describe_exit(-signal.SIGKILL) == "killed by signal SIGKILL"
