"""End to end: ``mpirun -n N hpcml demo`` as a user runs it (console script, real ranks)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpcml.io.store import read_frames, store_info

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
HPCML = Path(sys.executable).with_name("hpcml")


def mpirun(n, *args, cwd):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    env.pop("HPCML_NO_MPI", None)
    return subprocess.run(["timeout", "300", "mpirun", "--oversubscribe", "-n", str(n),
                           str(HPCML), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, check=False)


@pytest.mark.parametrize("ranks", [2, 4])
def test_demo_under_mpirun(tmp_path, ranks):
    proc = mpirun(ranks, "demo", "--frames-per-rank", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"from {ranks} rank(s) written with the 'mpio' writer" in proc.stdout
    assert proc.stdout.count("hpcml demo: OK") == 1  # rank 0 reports once
    assert f"[0/{ranks}] INFO" in proc.stderr
    path = tmp_path / "demo-out" / "frames.h5"
    assert store_info(path).n_committed == 3 * 5 * ranks
    assert read_frames(path).equals(read_frames(tmp_path / "demo-out" / "frames_serial.h5"))


def test_bad_config_fails_on_all_ranks_with_named_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parallel:\n  hdf5_writter: mpio\n")
    proc = mpirun(2, "demo", "--config", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "parallel.hdf5_writter: unknown key; did you mean 'hdf5_writer'?" in proc.stderr


def test_pending_subcommand_under_mpirun(tmp_path):
    proc = mpirun(2, "run", "x.yaml", cwd=tmp_path)
    assert proc.returncode == 3
    assert "issue 7" in proc.stderr


def test_missing_config_is_a_user_error_under_mpirun(tmp_path):
    proc = mpirun(2, "train", "x.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "x.yaml: config file not found" in proc.stderr
