"""Kill safety of the frame store: ``kill -9`` a writer at random moments.

A subprocess appends deterministic frames in a loop (serial writer); after
each SIGKILL the file must open, its committed frames must equal the frames
generated for those indices, and the next writer must continue cleanly.
"""

import random
import signal
import subprocess
import sys
import time

from hpcml.io.store import append_frames, read_frames, store_info
from hpcml.io.synthetic import synthetic_frames

KEYSET = ("energy", "force", "virial", "frame_id")
WRITER = f"""
import sys
from hpcml.io.store import append_frames, create_store, store_info
from hpcml.io.synthetic import synthetic_frames

path = sys.argv[1]
keys = {KEYSET!r}
create_store(path, ["O", "H"], keys, exist_ok=True)
print("ready", flush=True)
while True:
    n = store_info(path).n_committed
    append_frames(path, synthetic_frames(range(n, n + 1 + n % 13), keys=keys),
                  writer="serial")
"""


def _kill_writer_at_random(script, path, rng):
    """Start the writer, kill -9 it 0..0.25 s after it is ready; return its rc."""
    proc = subprocess.Popen([sys.executable, str(script), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = proc.stdout.readline()
    assert ready == "ready\n", proc.stderr.read()
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    return proc.returncode


def _check_committed(path, previous):
    """The committed frames equal the generated ones; return their count."""
    info = store_info(path)
    assert info.n_committed >= previous
    got = read_frames(path)
    diff = got.difference(synthetic_frames(range(info.n_committed), keys=KEYSET))
    assert diff is None, f"after a kill, committed frames differ: {diff}"
    return info.n_committed


def test_store_survives_kill_9_during_appends(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "killed.h5"
    rng = random.Random(20240611)
    n, grew = 0, 0
    for _ in range(15):
        assert _kill_writer_at_random(script, path, rng) == -signal.SIGKILL
        before, n = n, _check_committed(path, n)
        grew += n > before
    assert grew >= 8, "the writer should commit frames between most kills"
    extra = synthetic_frames(range(n, n + 4), keys=KEYSET)
    assert append_frames(path, extra) == n + 4
    _check_committed(path, n + 4)
