"""Hostile but realistic use of the commands: each ends in exit 2 with a clear message or a
clean result, never silent wrong data, a lost file, a hang or an orphaned process."""

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
import yaml

from hpcml.io import read_any
from hpcml.io.store import write_frames
from hpcml.label.samples import water_box

HPCML = Path(sys.executable).with_name("hpcml")
needs_cp2k = pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="needs CP2K")


def hpcml(*args, cwd, **kw):
    """``hpcml ARGS`` as a user runs it (serial), started in the background."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HPCML_NO_MPI="1")
    return subprocess.Popen([str(HPCML), *map(str, args)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def label_config(tmp_path, frames, name="cand.h5", **label):
    write_frames(tmp_path / name, frames)
    cfg = tmp_path / "label.yaml"
    cfg.write_text(yaml.safe_dump({"label": {"candidates": name, "retries": [], **label}}))
    return cfg


def wait_for(condition, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def children(pid):
    """Pids of the live descendants of ``pid``."""
    found, frontier = set(), {pid}
    while frontier:
        parent, frontier = frontier, set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in parent and fields[0] != "Z":
                frontier.add(int(stat.parent.name))
        found |= frontier
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@needs_cp2k
def test_label_second_candidate_file_in_the_default_workdir(tmp_path):
    """Before: the new frames got the old labels, rc 0."""
    label_config(tmp_path, water_box(2, 0))
    assert finish(hpcml("label", "label.yaml", cwd=tmp_path))[0] == 0
    old = read_any(tmp_path / "labeled.h5")["energy"]
    write_frames(tmp_path / "other.h5", water_box(2, 1))
    rc, out, err = finish(hpcml("label", "label.yaml", "--candidates", "other.h5", cwd=tmp_path))
    assert rc == 2 and "Traceback" not in err, err
    assert "label-work was made for other inputs" in err and "--reuse-workdir" in err
    rc, out, err = finish(hpcml("label", "label.yaml", "--candidates", "other.h5",
                                "--reuse-workdir", cwd=tmp_path))
    assert rc == 0, err
    new = read_any(tmp_path / "labeled.h5")
    np.testing.assert_array_equal(new["coord"], water_box(2, 1)["coord"])
    assert abs(new["energy"][0] - old[0]) > 1e-3


@needs_cp2k
def test_label_two_jobs_in_one_workdir(tmp_path):
    """Before: both failed every frame and later reruns reported them done forever."""
    label_config(tmp_path, water_box(16, [0, 1]))
    first = hpcml("label", "label.yaml", cwd=tmp_path)
    try:
        assert wait_for(lambda: (tmp_path / "label-work" / ".hpcml.lock").exists() and
                        (tmp_path / "label-work" / "inputs.json").exists())
        rc, out, err = finish(hpcml("label", "label.yaml", cwd=tmp_path))
        assert rc == 2 and "Traceback" not in err, err
        assert f"is in use by pid {first.pid} on host" in err and "hpcml label" in err
    finally:
        rc, out, err = finish(first)
    assert rc == 0, err
    assert "2 of 2 frames labeled" in out


@needs_cp2k
def test_label_failures_are_retried_by_a_rerun(tmp_path):
    """Before: a failed run left markers that made every later rerun fail (exit 2)."""
    label_config(tmp_path, water_box(2, [0, 1]), timeout=0.01)
    rc, out, err = finish(hpcml("label", "label.yaml", cwd=tmp_path))
    assert rc == 2 and "2 of 2 frames failed" in err and "timed out" in err
    rc, out, err = finish(hpcml("label", "label.yaml", "--keep-failed", cwd=tmp_path))
    assert rc == 2 and "2 of 2 frames failed" in err
    cfg = yaml.safe_load((tmp_path / "label.yaml").read_text())
    cfg["label"]["timeout"] = 600
    (tmp_path / "label.yaml").write_text(yaml.safe_dump(cfg))
    rc, out, err = finish(hpcml("label", "label.yaml", "--json", cwd=tmp_path))
    assert rc == 0, err
    assert json.loads(out.splitlines()[-1])["n_labeled"] == 2


@needs_cp2k
def test_label_kill_9_leaves_no_cp2k_running(tmp_path):
    """Before: CP2K children of a killed `hpcml label` kept running, orphaned."""
    label_config(tmp_path, water_box(64, [0, 1]))  # 192 atoms: seconds per CP2K run
    proc = hpcml("label", "label.yaml", cwd=tmp_path)
    try:
        assert wait_for(lambda: any("-i" in _args(p) for p in children(proc.pid)))  # a task
        tree = children(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    survivors = [] if wait_for(lambda: not any(alive(p) for p in tree), timeout=2) else \
        [(p, _args(p)) for p in tree if alive(p)]
    for pid, _ in survivors:  # do not leave them running on a failure
        os.kill(pid, signal.SIGKILL)
    assert not survivors
    rc, out, err = finish(hpcml("label", "label.yaml", cwd=tmp_path))  # stale lock taken over
    assert rc == 0, err
    assert "taking over the stale lock" in err and "2 of 2 frames labeled" in out


def _args(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def test_train_two_jobs_into_one_out(tmp_path):
    """Before: a crash on the shared checkpoint.pt.tmp and duplicated lcurve lines."""
    from hpcml.testing.data import embedded_water

    (tmp_path / "t.yaml").write_text(f"""
data: {{type_map: [O, H], systems: ["{embedded_water()}"]}}
model: {{rcut: 4.0, sel: [30, 60], neuron: [8, 16], axis_neuron: 4, fitting_neuron: [16]}}
train: {{steps: 300, n_models: 1, disp_freq: 1, save_freq: 1}}
""")
    first = hpcml("train", "t.yaml", "--out", "out", cwd=tmp_path)
    try:
        assert wait_for(lambda: (tmp_path / "out" / "member_0" / "lcurve.out").exists())
        rc, out, err = finish(hpcml("train", "t.yaml", "--out", "out", cwd=tmp_path))
        assert rc == 2 and "Traceback" not in err, err
        assert f"training output directory out is in use by pid {first.pid}" in err
    finally:
        rc, out, err = finish(first)
    assert rc == 0, err
    steps = [ln.split()[0] for ln in (tmp_path / "out" / "member_0" / "lcurve.out")
             .read_text().splitlines() if not ln.startswith("#")]
    assert len(steps) == len(set(steps))
    assert not list((tmp_path / "out").rglob("*.tmp*")) and \
        not (tmp_path / "out" / ".hpcml.lock").exists()
