"""End to end under ``mpirun``: the loop as a user runs it (console script, real ranks)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpcml.io.store import read_frames
from hpcml.testing.loop import make_run

pytestmark = [pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun"),
              pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="needs CP2K")]
HPCML = Path(sys.executable).with_name("hpcml")


def mpirun(n, *args, cwd):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    env.pop("HPCML_NO_MPI", None)
    return subprocess.run(["timeout", "600", "mpirun", "--oversubscribe", "-n", str(n),
                           str(HPCML), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, check=False)


def test_loop_under_mpirun(tmp_path):
    config = make_run(tmp_path)
    proc = mpirun(2, "run", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("hpcml run: not converged after 2 iteration(s)") == 1  # rank 0
    assert "[0/2] INFO" in proc.stderr and "[1/2] INFO" not in proc.stderr
    assert (tmp_path / "run" / "report" / "fractions.png").exists()
    labeled = read_frames(tmp_path / "run" / "iter.000" / "02.label" / "labeled.h5")
    assert len(labeled) > 0 and "force" in labeled


def test_bad_config_fails_on_all_ranks_with_one_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loop: {max_iteratons: 3}\n")
    proc = mpirun(2, "demo", "--config", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "loop.max_iteratons: unknown key; did you mean 'max_iterations'?" in proc.stderr


def test_missing_config_is_a_user_error_under_mpirun(tmp_path):
    proc = mpirun(2, "run", "x.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "x.yaml: config file not found" in proc.stderr
