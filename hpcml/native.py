"""Building and loading the package's C kernels (compiled at first use, loaded with ctypes).

Each kernel source (pure C, no Python API) is compiled by the system C
compiler (``$CC``, which may carry flags, else ``cc``) with the first of its
flag sets that works, into ``$HPCML_CACHE/kernels/<sha>.so`` (default
``~/.cache/hpcml/kernels``).  The SHA-256 covers the source, the compiler,
the flags and the CPU, so nodes with different CPUs sharing a home directory
do not share a ``-march=native`` binary.  The library is written under a
temporary name and renamed, so MPI ranks that build at once are safe.

A :class:`Loader` builds and loads one source once per (compiler, cache
directory); when that fails it logs one warning, :meth:`Loader.load` returns
None and the caller uses its pure-Python kernels.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hpcml.errors import UserError

_log = logging.getLogger(__name__)


class NativeUnavailable(UserError):
    """A C kernel library could not be built (no compiler, or every flag set failed)."""


def cache_dir() -> Path:
    """``$HPCML_CACHE/kernels`` (default ``~/.cache/hpcml/kernels``)."""
    return Path(os.environ.get("HPCML_CACHE", Path.home() / ".cache" / "hpcml")) / "kernels"


def _cpu_id() -> str:
    """The CPU model and feature flags (part of the cache key of a ``-march=native`` build)."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh.read().splitlines()
                     if ln.startswith(("model name", "flags"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor() or platform.machine()


def _compile(source: Path, cc: list[str], flags: Sequence[str],
             directory: Path) -> tuple[Path | None, str]:
    """Build ``source`` with the compiler command ``cc`` and ``flags``.

    Returns ``(path, "")``, or ``(None, why)`` when the compiler fails.
    """
    key = hashlib.sha256(b"\0".join([source.read_bytes(), " ".join(cc).encode(),
                                     " ".join(flags).encode(), _cpu_id().encode()]))
    path = directory / f"{key.hexdigest()[:24]}.so"
    if path.exists():
        return path, ""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        done = subprocess.run([*cc, *flags, "-o", tmp, str(source), "-lm"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            return None, (f"{' '.join(cc)} {' '.join(flags)} failed: "
                          f"{done.stderr.strip()[-400:]}")
        os.replace(tmp, path)          # atomic: a concurrent rank sees all of it or none
        return path, ""
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{' '.join(cc)}: {exc}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compiler(cc: str | None) -> str:
    """The compiler command: ``cc``, else ``$CC``, else ``cc``."""
    return cc or os.environ.get("CC") or "cc"


class Loader:
    """Builds and loads one C source; the loaded library is wrapped by ``wrap``.

    Parameters
    ----------
    source
        The C file.
    flag_sets
        Compiler flag sets, tried in order (the first that builds is used).
    wrap
        Called with the :class:`ctypes.CDLL`; its result is what :meth:`load`
        returns (it declares the argument types).
    fallback
        Words for the warning when the build fails (what is used instead).
    error
        The exception class raised by :meth:`build`.
    """

    def __init__(self, source: Path, flag_sets: Sequence[Sequence[str]],
                 wrap: Callable[[ctypes.CDLL], Any], fallback: str,
                 error: type[NativeUnavailable] = NativeUnavailable):
        self.source, self.flag_sets, self.wrap = Path(source), flag_sets, wrap
        self.fallback, self.error = fallback, error
        self._loaded: dict[tuple[str, str], Any] = {}

    def build(self, cc: str | None = None, directory: Path | None = None) -> Path:
        """Compile the source (or find it in the cache); the path of the shared library.

        Raises
        ------
        NativeUnavailable
            (or the loader's ``error`` class) without a C compiler, or when
            every flag set fails.
        """
        cc = _compiler(cc)
        words = shlex.split(cc)                    # CC may carry flags, e.g. "gcc -m64"
        exe = shutil.which(words[0]) if words else None
        if exe is None:
            raise self.error(f"no C compiler {cc!r} found (set CC or install one, e.g. "
                             "apt-get install gcc)")
        directory = cache_dir() if directory is None else Path(directory)
        if not self.source.is_file():
            raise self.error(f"the kernel source {self.source} is missing (reinstall hpcml: "
                             "pip install -e .)")
        why = []
        for flags in self.flag_sets:
            try:
                path, err = _compile(self.source, [exe, *words[1:]], flags, directory)
            except OSError as exc:
                raise self.error(f"cannot write the kernel cache {directory}: {exc} (set "
                                 "HPCML_CACHE to a writable directory)") from None
            if path is not None:
                return path
            why.append(err)
        raise self.error(f"building {self.source.name} failed: " + "; ".join(why))

    def load(self, cc: str | None = None, directory: Path | None = None) -> Any:
        """The wrapped library, built and loaded once per (compiler, directory); None if not.

        When it cannot be built, logs one warning (per compiler and
        directory) and returns None; :meth:`last_error` says why.
        """
        key = self._key(cc, directory)
        if key not in self._loaded:
            try:
                self._loaded[key] = self.wrap(ctypes.CDLL(str(self.build(cc, directory))))
            except (NativeUnavailable, OSError) as exc:
                self._loaded[key] = str(exc)
                _log.warning("%s unavailable, using %s: %s", self.source.name,
                             self.fallback, exc)
        got = self._loaded[key]
        return None if isinstance(got, str) else got

    def last_error(self, cc: str | None = None, directory: Path | None = None) -> str | None:
        """Why :meth:`load` returned None for this compiler and directory (None if it did not)."""
        got = self._loaded.get(self._key(cc, directory))
        return got if isinstance(got, str) else None

    @staticmethod
    def _key(cc: str | None, directory: Path | None) -> tuple[str, str]:
        return _compiler(cc), str(cache_dir() if directory is None else Path(directory))
