"""Find the CP2K binary, its version, data directory and input schema.

The input schema (``cp2k_input.xml``, 28 MB) is written by ``cp2k.psmp
--xml`` and cached per binary version under ``$HPCML_CACHE`` (default
``~/.cache/hpcml``), so templates are validated against the installed CP2K
rather than the schema bundled with cp2k-input-tools (CP2K 2024.1).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hpcml.errors import UserError

_log = logging.getLogger(__name__)

INSTALL_HINT = ("install CP2K (Debian/Ubuntu: `apt-get install cp2k`, which provides "
                "cp2k.psmp; clusters: `module load cp2k`) or set label.cp2k to the "
                "path of a CP2K binary")


class CP2KNotFoundError(UserError):
    """The CP2K binary is missing or does not run."""


@dataclass(frozen=True)
class CP2KProgram:
    """An installed CP2K binary.

    Attributes
    ----------
    path
        Absolute path of the binary.
    version
        Version string, e.g. ``"2023.1"``.
    revision
        Source revision, e.g. ``"git:b888bd8"``.
    data_dir
        Directory where CP2K finds basis/potential files by bare name.
    """

    path: str
    version: str
    revision: str
    data_dir: str

    @property
    def label(self) -> str:
        """``"CP2K 2023.1 (git:b888bd8)"`` for provenance."""
        return f"CP2K {self.version} ({self.revision})"

    def xml_spec(self) -> Path:
        """Path of the cached input schema of this binary (written on first use)."""
        key = hashlib.sha256(f"{self.path}:{self.version}:{self.revision}".encode())
        cache = Path(os.environ.get("HPCML_CACHE", Path.home() / ".cache" / "hpcml"))
        target = cache / f"cp2k_input-{self.version}-{key.hexdigest()[:12]}.xml"
        if not target.exists():
            _write_xml_spec(self.path, target)
        return target


def _write_xml_spec(binary: str, target: Path) -> None:
    """Run ``binary --xml`` in a scratch directory and move the schema to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        proc = subprocess.run([binary, "--xml"], cwd=tmp, capture_output=True, text=True,
                              timeout=300, env=_serial_env())
        out = Path(tmp) / "cp2k_input.xml"
        if proc.returncode != 0 or not out.exists():
            raise CP2KNotFoundError(f"`{binary} --xml` failed (exit {proc.returncode}): "
                                    f"{proc.stderr.strip()[-300:]}")
        os.replace(out, target)
    _log.info("cached the CP2K input schema in %s", target)


def _serial_env() -> dict[str, str]:
    """The environment without the launcher variables of an enclosing MPI job or srun step."""
    from hpcml.parallel.launcher import child_environment

    env = child_environment()
    env["OMP_NUM_THREADS"] = "1"
    return env


def _field(text: str, pattern: str, default: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else default


def find_cp2k(command: str = "cp2k.psmp") -> CP2KProgram:
    """Locate ``command`` (a name on PATH or a path) and read its version.

    Raises
    ------
    CP2KNotFoundError
        When the binary is not found or ``--version`` fails, saying how to
        install CP2K or point to a binary.
    """
    path = shutil.which(command)
    if path is None:
        raise CP2KNotFoundError(f"CP2K binary {command!r} not found on PATH; {INSTALL_HINT}")
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True,
                              timeout=60, env=_serial_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CP2KNotFoundError(f"{path} --version failed ({exc}); {INSTALL_HINT}") from None
    text = proc.stdout + proc.stderr
    version = _field(text, r"CP2K version (\S+)", "")
    if proc.returncode != 0 or not version:
        raise CP2KNotFoundError(f"{path} does not look like CP2K (`--version` said "
                                f"{text.strip()[:200]!r}); {INSTALL_HINT}")
    data_dir = os.environ.get("CP2K_DATA_DIR") or _field(
        text, r'__DATA_DIR="([^"]+)"', "/usr/share/cp2k")
    return CP2KProgram(path, version, _field(text, r"revision (\S+)", "unknown"), data_dir)
