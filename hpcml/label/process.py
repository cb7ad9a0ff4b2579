"""Start one CP2K task as a child that dies with hpcml, and say why it failed.

Children are started with ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux, via
ctypes, in the child before ``exec``): if the hpcml process is killed, even
by ``kill -9``, the kernel kills its CP2K children instead of leaving them
orphaned and still writing into the work directory.  The signal is tied to
the thread that started the child, which in :mod:`hpcml.label.runner` waits
for it, so it fires only when hpcml itself goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """Return libc's prctl, loaded before any fork (None off Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child to ``parent`` (None where unsupported)."""
    if _PRCTL is None:
        return None

    def preexec() -> None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def run_child(argv: list[str], cwd: Path, env: dict[str, str], log: Path,
              timeout: float) -> int:
    """Run ``argv`` in ``cwd`` (stdout and stderr to ``log``); its exit status.

    Raises ``subprocess.TimeoutExpired`` (the child is killed) and ``OSError``
    (it cannot be started), as :func:`subprocess.run` does.
    """
    with open(log, "w") as out:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout, preexec_fn=_die_with_parent(os.getpid()))
    return proc.returncode


def describe_exit(status: int) -> str:
    """``exit status 1``, ``killed by signal SIGSEGV``, ``... (command not found)``."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"killed by signal {name}"
    extra = {126: " (command not executable)", 127: " (command not found)"}.get(status, "")
    return f"exit status {status}{extra}"


def output_tail(path: Path, limit: int = 300) -> str:
    """The last ``limit`` characters of a child's stdout/stderr file, on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text.split())[-limit:]
