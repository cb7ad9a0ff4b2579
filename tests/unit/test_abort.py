"""An exception on one rank ends the whole mpirun job with the traceback.

A hang would be ended by ``timeout`` (exit status 124), which fails the test.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
JOB = Path(__file__).with_name("_abort_job.py")


def run_job(*args):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(
        ["timeout", "120", "mpirun", "--oversubscribe", "-n", "2", sys.executable, str(JOB), *args],
        capture_output=True, text=True, env=env, check=False,
    )
    return proc


def test_exception_on_one_rank_aborts_all():
    proc = run_job()
    assert proc.returncode not in (0, 124), proc.stderr  # 124: timeout hit (hang)
    assert "[hpcml rank 1/2] unhandled exception; aborting all ranks" in proc.stderr
    assert "ValueError: boom on rank 1" in proc.stderr
    assert "Traceback" in proc.stderr


def test_user_error_reported_without_traceback():
    proc = run_job("user")
    assert proc.returncode == 2, proc.stderr
    assert "[hpcml rank 1/2] error: frames.h5: key 'coord' missing" in proc.stderr
    assert "Traceback" not in proc.stderr
