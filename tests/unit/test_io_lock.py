"""Directory locks (hpcml.io.lock): held locks name their holder, stale ones are taken over."""

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from hpcml.io.lock import LOCK_NAME, DirLock, LockedError, read_holder

HOLD = """
import sys, time
from hpcml.io.lock import DirLock
lock = DirLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_second_process_is_refused_naming_the_holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockedError) as err:
            DirLock(tmp_path, "label.workdir", hint="use another one").acquire()
        text = str(err.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in text
        assert "label.workdir" in text and "use another one" in text and LOCK_NAME in text
        assert read_holder(tmp_path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    # kill -9 released the flock: the stale lock is taken over
    with DirLock(tmp_path) as lock:
        assert read_holder(tmp_path)["pid"] == os.getpid()
        assert lock.path.exists()
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_pid_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({
        "host": socket.gethostname(), "pid": dead.pid, "command": "hpcml label x.yaml",
        "since": "2020-01-01T00:00:00"}))
    with caplog.at_level(logging.WARNING), DirLock(tmp_path, "label.workdir"):
        pass
    assert f"stale lock of pid {dead.pid}" in caplog.text and "hpcml label x.yaml" in caplog.text


def test_lock_is_exclusive_within_one_process(tmp_path):
    with DirLock(tmp_path):
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
            DirLock(tmp_path).acquire()
    with DirLock(tmp_path):  # released: free again
        pass
