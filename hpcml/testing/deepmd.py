"""DeePMD-kit in its side environment, for the checks of hpcml's DeePMD-kit interop.

The environment is made once by ``launch/deepmd-env.sh`` (DeePMD-kit 3.2.0
on the local CPU torch, without system site packages) and never mixed into
the project venv.  Tests call :func:`deepmd_env` and skip, naming the
script, when it returns None.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: where launch/deepmd-env.sh puts the environment (HPCML_DEEPMD_ENV overrides)
DEFAULT_ENV = Path.home() / ".cache" / "hpcml" / "deepmd-env"

#: the reason tests give when the environment is absent
MISSING = ("DeePMD-kit side environment absent (make it once with launch/deepmd-env.sh; "
           "HPCML_DEEPMD_ENV names another place)")


def deepmd_env() -> Path | None:
    """The side environment's root, or None when it has no ``bin/dp``."""
    env = Path(os.environ.get("HPCML_DEEPMD_ENV", DEFAULT_ENV))
    return env if (env / "bin" / "dp").is_file() else None


def _environ(env: Path) -> dict[str, str]:
    """Environment of a side-environment program: this one's, on the CPU, one thread."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMPI_", "PMIX_", "PYTHON", "VIRTUAL_ENV"))}
    environ.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
                   DP_INTRA_OP_PARALLELISM_THREADS="1", DP_INTER_OP_PARALLELISM_THREADS="1",
                   PATH=f"{env / 'bin'}:{environ.get('PATH', '/usr/bin:/bin')}")
    return environ


def run_side(env: Path, program: str, args: Sequence[str], cwd: str | os.PathLike,
             timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``env/bin/PROGRAM ARGS`` (``dp``, ``python``) on the CPU with one thread.

    Raises
    ------
    RuntimeError
        With the tail of the program's output when it exits non-zero.
    """
    proc = subprocess.run([str(env / "bin" / program), *args], cwd=cwd, env=_environ(env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"{program} {' '.join(args)} exited {proc.returncode}:\n{tail}")
    return proc


def run_dp(env: Path, commands: Sequence[Sequence[str]], cwd: str | os.PathLike,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``dp ARGS`` for each ARGS of ``commands`` in one side-environment process.

    Each runs as DeePMD-kit's ``dp`` script runs it (``deepmd.main.main(ARGS)``);
    one interpreter pays DeePMD-kit's start-up (about 10 s) once.  See :func:`run_side`.
    """
    script = ("import json, sys\nfrom deepmd.main import main\n"
              "for args in json.loads(sys.argv[1]):\n    main(args)\n")
    return run_side(env, "python", ["-c", script, json.dumps([list(c) for c in commands])],
                    cwd, timeout)


def read_detail(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``dp test -d PREFIX`` (or ``hpcml test --detail``) files that exist.

    Returns ``e`` (nframes, 2) eV, ``e_peratom`` (nframes, 2) eV/atom, ``f``
    (natoms_total, 6) eV/A and ``v`` (nframes, 18) eV when written: data
    columns first, predictions after.
    """
    prefix = Path(prefix)
    out = {}
    for key in ("e", "e_peratom", "f", "v"):
        path = prefix.with_suffix(f".{key}.out")
        if path.exists():
            out[key] = np.loadtxt(path, ndmin=2)
    return out
