"""An exception on one rank ends the whole mpirun job with the traceback."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
JOB = Path(__file__).with_name("_abort_job.py")


def run_job(*args):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    start = time.monotonic()
    proc = subprocess.run(
        ["timeout", "120", "mpirun", "--oversubscribe", "-n", "2", sys.executable, str(JOB), *args],
        capture_output=True, text=True, env=env, check=False,
    )
    return proc, time.monotonic() - start


def test_exception_on_one_rank_aborts_all():
    proc, elapsed = run_job()
    assert proc.returncode not in (0, 124), proc.stderr  # 124: timeout hit (hang)
    assert "[hpcml rank 1/2] unhandled exception; aborting all ranks" in proc.stderr
    assert "ValueError: boom on rank 1" in proc.stderr
    assert "Traceback" in proc.stderr
    assert elapsed < 100


def test_user_error_reported_without_traceback():
    proc, _ = run_job("user")
    assert proc.returncode == 2, proc.stderr
    assert "[hpcml rank 1/2] error: frames.h5: key 'coord' missing" in proc.stderr
    assert "Traceback" not in proc.stderr
