"""Launch profiles: how one CP2K task is started (data in ``launch/profiles``).

A profile is a YAML file with ``name``, ``command`` (a template with
``{cp2k}``, ``{input}``, ``{output}``, ``{ranks}``, ``{threads}``), ``env``
(variables set for the task, templated the same way) and ``strip_env``
(prefixes of variables removed from the task's environment, e.g. the
``OMPI_`` variables of an enclosing ``mpirun`` that would make CP2K join it)
and ``keep_env`` (prefixes kept although ``strip_env`` matches them: user
settings such as ``OMPI_ALLOW_RUN_AS_ROOT``).
Profiles are found by path, then by name in ``$HPCML_PROFILES`` and in the
``launch/profiles`` directory of the hpcml checkout.
"""

from __future__ import annotations

import difflib
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hpcml.errors import ConfigError

PLACEHOLDERS = ("cp2k", "input", "output", "ranks", "threads")


def profile_dirs() -> list[Path]:
    """Directories searched for profiles by name, in order."""
    dirs = [Path(d) for d in os.environ.get("HPCML_PROFILES", "").split(os.pathsep) if d]
    return [*dirs, Path(__file__).resolve().parents[2] / "launch" / "profiles"]


@dataclass(frozen=True)
class LaunchProfile:
    """A way of starting CP2K tasks.

    Attributes
    ----------
    name
        Profile name.
    command
        Command template (see the module docstring).
    env
        Variables set for each task (values templated).
    strip_env
        Prefixes of inherited variables removed for each task.
    keep_env
        Prefixes kept even when ``strip_env`` matches them.
    source
        File it was read from.
    """

    name: str
    command: str
    env: dict[str, str] = field(default_factory=dict)
    strip_env: tuple[str, ...] = ()
    source: str = ""
    keep_env: tuple[str, ...] = ()

    def argv(self, cp2k: str, input_name: str, output_name: str, ranks: int,
             threads: int) -> list[str]:
        """The command line of one task."""
        values = self._values(cp2k, input_name, output_name, ranks, threads)
        quoted = {k: shlex.quote(v) for k, v in values.items()}
        return shlex.split(self.command.format(**quoted))

    def environment(self, ranks: int, threads: int) -> dict[str, str]:
        """The environment of one task: inherited, stripped, then ``env``."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(self.strip_env) or (self.keep_env and
                                                       k.startswith(self.keep_env))}
        values = self._values("", "", "", ranks, threads)
        env.update({k: str(v).format(**values) for k, v in self.env.items()})
        return env

    @staticmethod
    def _values(cp2k: str, input_name: str, output_name: str, ranks: int,
                threads: int) -> dict[str, str]:
        return {"cp2k": cp2k, "input": input_name, "output": output_name,
                "ranks": str(ranks), "threads": str(threads)}


def _known() -> list[str]:
    return sorted({p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def _find(name: str) -> Path:
    """Path of profile ``name`` (a file path or a profile name)."""
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in name:
        if path.is_file():
            return path
        raise ConfigError(f"label.profile: launch profile file {path} not found")
    for directory in profile_dirs():
        if (directory / f"{name}.yaml").is_file():
            return directory / f"{name}.yaml"
    known = _known()
    close = difflib.get_close_matches(name, known, n=2)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ConfigError(f"label.profile: unknown launch profile {name!r}{hint} Known: "
                      f"{', '.join(known) or 'none'} (searched $HPCML_PROFILES and "
                      f"{profile_dirs()[-1]}); or give the path of a profile YAML file")


def load_profile(name: str) -> LaunchProfile:
    """Read and check a launch profile.

    Raises
    ------
    ConfigError
        For an unknown profile, a malformed file, unknown keys or placeholders.
    """
    path = _find(name)
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - {"name", "command", "env", "strip_env", "keep_env"})
    if unknown or not isinstance(data.get("command"), str):
        raise ConfigError(f"{path}: a launch profile needs `command` (a string) and may "
                          f"have name, env, strip_env, keep_env; unknown keys: {unknown}")
    profile = LaunchProfile(str(data.get("name", path.stem)), data["command"],
                            {str(k): str(v) for k, v in (data.get("env") or {}).items()},
                            tuple(data.get("strip_env") or ()), str(path),
                            tuple(data.get("keep_env") or ()))
    try:
        profile.argv("cp2k", "in.inp", "out.log", 1, 1)
        profile.environment(1, 1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{path}: bad placeholder {exc} in the command or env; use "
                          f"{{{'}, {'.join(PLACEHOLDERS)}}}") from None
    if "{input}" not in profile.command or "{output}" not in profile.command:
        raise ConfigError(f"{path}: the command must contain {{input}} and {{output}}")
    return profile
