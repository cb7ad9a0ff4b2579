"""Sizes too large for the node (issue 15 item 6): ``hpcml kinetic --nx 1e9`` and ``hpcml md
--atoms 12288000`` were OOM-killed without a word on a shared node; they now stop at once with
exit 2, the estimate, the limit and the fix, before allocating anything large.

``HPCML_MEMORY_LIMIT`` pins the limit so the words are the same on every machine; the cases
without it use sizes no machine holds (petabytes), so they cannot start allocating either.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HPCML = Path(sys.executable).with_name("hpcml")
KINETIC = "kinetic:\n  nx: 20\n  velocity: {n: 16}\n  t_end: 0.02\n  outputs: 1\n  out: m.h5\n"
#: the most seconds a refused run may take (imports and a few small files)
QUICK = 60


def run_cli(*args, cwd, env=None, timeout=QUICK):
    """``hpcml ARGS`` to the end: ``(rc, stdout, stderr, seconds)``; ``env`` adds variables."""
    full = dict(os.environ, OMP_NUM_THREADS="1", HPCML_NO_MPI="1")
    full.pop("HPCML_MEMORY_LIMIT", None)
    full.update(env or {})
    start = time.monotonic()
    proc = subprocess.run([str(HPCML), *map(str, args)], cwd=cwd, env=full, text=True,
                          capture_output=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def too_large(result, *words):
    """Exit 2 within QUICK seconds, one message with every word, no traceback."""
    rc, out, err, seconds = result
    assert rc == 2 and "Traceback" not in err, err
    assert seconds < QUICK, seconds
    for w in words:
        assert w in err, err
    return err


def test_kinetic_nx_1e9_stops_with_the_estimate(tmp_path):
    (tmp_path / "k.yaml").write_text(KINETIC)
    err = too_large(run_cli("kinetic", "k.yaml", "--nx", "1e9", cwd=tmp_path,
                            env={"HPCML_MEMORY_LIMIT": "4G"}),
                    "hpcml kinetic: --nx 1000000000 with kinetic.velocity.n 16",
                    "needs about 1.94 TiB", "f and its two Runge-Kutta stages",
                    "a rank may use 4 GiB (HPCML_MEMORY_LIMIT=4G)", "stopped before allocating",
                    "Fix: lower --nx to", "more ranks do not help")
    assert err.count("hpcml: error:") == 1
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.h5.partial").exists()
    # the default velocity grid (from the Knudsen number) and --nv are named as given
    too_large(run_cli("kinetic", "k.yaml", "--nx", "1e6", "--nv", "4096", cwd=tmp_path,
                      env={"HPCML_MEMORY_LIMIT": "4G"}),
              "--nx 1000000 with --nv 4096 (chu mode, 8192 values per cell) on 1 rank(s)",
              "or run 111 ranks or more with this much memory each", "or lower --nv")


def test_kinetic_against_this_machines_memory(tmp_path):
    """Without the override the limit is this node's (MemAvailable or the cgroup)."""
    (tmp_path / "k.yaml").write_text(KINETIC)
    err = too_large(run_cli("kinetic", "k.yaml", "--nx", "1e13", cwd=tmp_path),
                    "hpcml kinetic: --nx 10000000000000", "needs about", "a rank may use")
    assert "MemAvailable of /proc/meminfo" in err or "cgroup" in err, err
    rc, out, err, _ = run_cli("kinetic", "k.yaml", "--nx", "2.5", cwd=tmp_path)
    assert rc == 2 and "'2.5' is not a whole number" in err, err


@pytest.fixture(scope="module")
def md_setup(tmp_path_factory):
    from hpcml.testing.data import embedded_water
    from hpcml.testing.models import small_committee

    root = tmp_path_factory.mktemp("md")
    small_committee().save(root / "a.pt")
    (root / "md.yaml").write_text(f"md: {{structure: '{embedded_water()}', steps: 10, "
                                  "model_devi_freq: 5, out: out}\n")
    return root


def test_md_atoms_12288000_stops_with_the_estimate(md_setup):
    err = too_large(run_cli("md", "md.yaml", "--model", "a.pt", "--atoms", "12288000",
                            cwd=md_setup, env={"HPCML_MEMORY_LIMIT": "4G"}),
                    "hpcml md: --atoms 12288000 (1 walker(s), 2 models, rcut + skin = 5 A) on "
                    "1 rank(s) needs about", "neighbour search",
                    "a rank may use 4 GiB (HPCML_MEMORY_LIMIT=4G)", "stopped before allocating",
                    "Fix: use --atoms", "(192 x ", "ranks or more")
    assert err.count("hpcml: error:") == 1
    assert not (md_setup / "out").exists()
    # md.replicate is named when it sets the size; the node's own limit without the override
    (md_setup / "rep.yaml").write_text((md_setup / "md.yaml").read_text().replace(
        "steps: 10", "replicate: [1000, 1000, 1000], steps: 10"))
    err = too_large(run_cli("md", "rep.yaml", "--model", "a.pt", cwd=md_setup),
                    "hpcml md: md.replicate [1000, 1000, 1000] (192000000000 atoms)",
                    "a rank may use")
    assert not (md_setup / "out").exists()
