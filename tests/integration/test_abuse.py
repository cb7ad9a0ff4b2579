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


# --- outputs, values and launch (issue 15 items 2, 4, 5, 8) ---------------------------------

def run_cli(*args, cwd, env=None, timeout=300):
    """``hpcml ARGS`` to the end: ``(rc, stdout, stderr)``; ``env`` adds variables."""
    full = dict(os.environ, OMP_NUM_THREADS="1", HPCML_NO_MPI="1", **(env or {}))
    proc = subprocess.run([str(HPCML), *map(str, args)], cwd=cwd, env=full, text=True,
                          capture_output=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def user_error(result, *words):
    """Exit 2, every word in the message, no traceback."""
    rc, out, err = result
    assert rc == 2 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


KINETIC = "kinetic:\n  nx: 20\n  velocity: {n: 16}\n  t_end: 0.02\n  outputs: 1\n  out: m.h5\n"


def test_kinetic_never_destroys_an_existing_output(tmp_path):
    """Before: any existing --out was truncated, and --out DIR raised IsADirectoryError."""
    (tmp_path / "k.yaml").write_text(KINETIC)
    (tmp_path / "m.h5").write_text("earlier results")
    user_error(run_cli("kinetic", "k.yaml", cwd=tmp_path),
               "kinetic.out m.h5: already exists", "--force")
    assert (tmp_path / "m.h5").read_text() == "earlier results"
    (tmp_path / "d").mkdir()
    user_error(run_cli("kinetic", "k.yaml", "--out", "d", cwd=tmp_path),
               "--out d: is a directory; give a file name")
    rc, out, err = run_cli("kinetic", "k.yaml", "--force", cwd=tmp_path)
    assert rc == 0, err
    from hpcml.io.hdf5.kinetic import read_moments

    assert read_moments(tmp_path / "m.h5")["rho"].shape == (2, 20)
    assert not (tmp_path / "m.h5.partial").exists()


@pytest.mark.parametrize("option,key", [
    (("--nx", "0"), "kinetic.nx"), (("--nv", "0"), "kinetic.velocity.n"),
    (("--knudsen", "0"), "kinetic.knudsen"), (("--t-end", "0"), "kinetic.t_end"),
    (("--t-end", "inf"), "kinetic.t_end: input should be a finite number"),
    (("-kinetic_ts_cfl", "-1"), "-kinetic_ts_cfl -1: must be a finite number > 0"),
    (("-kinetic_ts_max_steps", "-3"), "-kinetic_ts_max_steps -3: must be >= 1"),
])
def test_kinetic_zero_and_negative_options_are_refused(tmp_path, option, key):
    """Before: 0 was replaced by the config value (0 == False), -1/-3 meant 'not given'."""
    (tmp_path / "k.yaml").write_text(KINETIC)
    err = user_error(run_cli("kinetic", "k.yaml", *option, cwd=tmp_path), key)
    assert "http" not in err
    assert not (tmp_path / "m.h5").exists()


@pytest.fixture(scope="module")
def md_setup(tmp_path_factory):
    from hpcml.testing.data import embedded_water
    from hpcml.testing.models import small_committee

    root = tmp_path_factory.mktemp("md")
    small_committee().save(root / "a.pt")
    small_committee(k=3).save(root / "b.pt")
    (root / "md.yaml").write_text(f"md: {{structure: '{embedded_water()}', steps: 10, "
                                  "model_devi_freq: 5, out: out}\n")
    return root


@pytest.mark.parametrize("option,words", [
    (("--steps", "0"), "md.yaml with --steps 0: md.steps: input should be greater"),
    (("--steps", "-5"), "md.yaml with --steps -5: md.steps: input should be greater"),
    (("--atoms", "0"), "--atoms 0: must be a positive number of atoms"),
    (("--atoms", "-192"), "--atoms -192: must be a positive number of atoms"),
    (("--model", "missing.pt"), "md.model: no such file or directory: missing.pt"),
])
def test_md_bad_options(md_setup, option, words):
    """Before: --steps -5 ran (negative ns/day), --atoms 0 used md.replicate, -192 a traceback."""
    user_error(run_cli("md", "md.yaml", "--model", "a.pt", *option, "--out", "bad",
                       cwd=md_setup), words)
    assert not (md_setup / "bad" / "walker_0").exists()


def test_md_rerun_with_other_inputs_is_refused_by_name(md_setup):
    """Before: another model or step count continued silently into the same store."""
    assert run_cli("md", "md.yaml", "--model", "a.pt", cwd=md_setup)[0] == 0
    err = user_error(run_cli("md", "md.yaml", "--model", "b.pt", "--steps", "20", cwd=md_setup),
                     "out holds the outputs of `hpcml md` with other inputs", "model_sha256",
                     "steps: 10 -> 20", "--continue-changed", "--force")
    assert "inputs.json" in err
    rc, out, err = run_cli("md", "md.yaml", "--model", "a.pt", "--steps", "20",
                           "--continue-changed", cwd=md_setup)
    assert rc == 0, err
    user_error(run_cli("md", "md.yaml", "--model", "a.pt", "--steps", "20", "--atoms", "1536",
                       "--continue-changed", cwd=md_setup), "atoms cannot change")
    record = json.loads((md_setup / "out" / "inputs.json").read_text())
    assert record["inputs"]["steps"] == 20 and record["previous"][0]["steps"] == 10


def test_launcher_with_a_communicator_of_one_stops(tmp_path):
    """Before: under mpirun without a working mpi4py every process ran as rank 0 of 1."""
    (tmp_path / "k.yaml").write_text(KINETIC)
    for env, name in (({"OMPI_COMM_WORLD_SIZE": "2"}, "OMPI_COMM_WORLD_SIZE=2"),
                      ({"PMI_SIZE": "2"}, "PMI_SIZE=2"),
                      ({"SLURM_STEP_ID": "0", "SLURM_NTASKS": "2", "SLURM_PROCID": "1"},
                       "SLURM_NTASKS=2")):
        user_error(run_cli("kinetic", "k.yaml", cwd=tmp_path, env=env),
                   f"the launcher started 2 processes ({name})", "Fix:")
    assert not (tmp_path / "m.h5").exists()


def test_config_user_errors_without_traceback(tmp_path):
    """Before: UnicodeDecodeError, AttributeError (empty config) and last-key-wins."""
    (tmp_path / "latin.yaml").write_bytes(b"run:\n  log_level: INFO # caf\xe9\n")
    user_error(run_cli("run", "latin.yaml", cwd=tmp_path), "latin.yaml: not UTF-8 text")
    (tmp_path / "empty.yaml").write_text("")
    user_error(run_cli("run", "empty.yaml", "--workdir", "w", cwd=tmp_path),
               "no data section", "data.type_map")
    (tmp_path / "dup.yaml").write_text("md:\n  steps: 5\nmd:\n  steps: 6\n")
    user_error(run_cli("config", "check", "dup.yaml", cwd=tmp_path),
               "dup.yaml: key 'md' appears twice (lines 1 and 3)")
    (tmp_path / "paths.yaml").write_text("loop:\n  init:\n    structures: [gone.xyz]\n")
    user_error(run_cli("config", "check", "paths.yaml", cwd=tmp_path),
               "loop.init.structures[0]: no such file or directory: gone.xyz")


def test_status_of_a_damaged_journal(tmp_path):
    """Before: UnicodeDecodeError traceback."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "journal.jsonl").write_bytes(b'{"event": "start"}\n\xff\xfe garbage\n')
    user_error(run_cli("status", "w", cwd=tmp_path), "journal.jsonl:2: not UTF-8 text")


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_hpcml_test_under_mpirun_prints_once(md_setup):
    """Before: every rank evaluated and printed the table."""
    from hpcml.testing.data import embedded_water

    env = {k: v for k, v in os.environ.items() if k != "HPCML_NO_MPI"}
    env.update(OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", str(HPCML), "test", "a.pt",
                           str(embedded_water())], cwd=md_setup, env=env, text=True,
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("E rmse (meV/atom)") == 1, proc.stdout


def test_two_runs_in_one_run_directory(tmp_path):
    """Before: the second `hpcml run` ran the same stages in the same directory."""
    from hpcml.io.lock import DirLock
    from hpcml.testing.loop import make_run

    config = make_run(tmp_path)
    with DirLock(tmp_path / "run", "run directory"):     # as a first job holds it
        err = user_error(run_cli("run", config, cwd=tmp_path), "run directory",
                         "is in use by", "run.workdir")
    assert f"pid {os.getpid()}" in err or str(os.getpid()) in err
    assert not (tmp_path / "run" / "init").exists()      # no stage ran
