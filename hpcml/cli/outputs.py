"""Guards against destroying or mixing results in an existing output.

A command that writes one file (``hpcml kinetic``) refuses an existing file
unless ``--force``.  A command that writes a directory and continues in it
(``hpcml md``, ``hpcml train``) records its inputs in ``OUT/inputs.json``
(as ``hpcml run`` does with ``run.json``) and refuses a rerun whose inputs
differ, naming each key, unless told to continue (``--continue-changed``) or
to start afresh (``--force``, which deletes that command's outputs only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpcml.errors import ConfigError

#: name of the inputs record inside an output directory
RECORD = "inputs.json"


def add_output_options(parser: argparse.ArgumentParser, resumes: bool = True) -> None:
    """Add ``--force`` (and ``--continue-changed`` for commands that resume)."""
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output (its earlier results are deleted)")
    if resumes:
        parser.add_argument("--continue-changed", action="store_true",
                            help="continue an output directory made with other inputs")


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of every file below a directory (names and contents)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        digest.update(str(f.relative_to(path)).encode() if path.is_dir() else b"")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_output_file(path: Path, option: str, force: bool, command: str,
                      example: str = "moments.h5") -> None:
    """Refuse a directory, or an existing file unless ``force`` (a command that cannot resume).

    ``example`` is a file name to suggest inside a directory given by mistake.

    Raises
    ------
    ConfigError
        Naming the option, the path and the fix.
    """
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name, e.g. "
                          f"{path / example}")
    if path.exists() and not force:
        raise ConfigError(f"{option} {path}: already exists and {command} would overwrite "
                          "it; give another output file, or pass --force to overwrite it")


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1, {"c": 2}]}}`` -> ``{"a.b[0]": 1, "a.b[1].c": 2}``."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) and any(isinstance(v, (dict, list)) for v in data):
        out = {}
        for i, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{i}]"))
        return out
    return {prefix: data}


def _short(value: Any) -> str:
    """A recorded value for a message (hashes shortened)."""
    text = json.dumps(value)
    return text[:14] + "...\"" if len(text) > 40 and isinstance(value, str) else text


def differences(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every flattened key whose value differs."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {_short(a.get(k))} -> {_short(b.get(k))}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _remove_outputs(out: Path, patterns: Sequence[str]) -> list[str]:
    """Delete what ``patterns`` (globs below ``out``) match; return the names."""
    gone = []
    for pattern in patterns:
        for p in sorted(out.glob(pattern)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            gone.append(p.name)
    return gone


def _write_record(out: Path, record: dict) -> None:
    """Write ``OUT/inputs.json`` atomically."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out / RECORD)


def _refusal(out: Path, command: str, old: dict, changed: list[str], fixed: list[str]) -> str:
    """The message for an output directory made with other inputs."""
    how = (f"pass --force to start afresh (deletes {command}'s outputs there)" if fixed else
           "pass --continue-changed to go on with the new inputs, or --force to start afresh")
    made = old.get("command", "another command")
    lines = "; ".join(changed)
    cannot = f" ({', '.join(fixed)} cannot change in a continued run)" if fixed else ""
    return (f"{out} holds the outputs of `{made}` with other inputs ({out / RECORD}): {lines}"
            f"{cannot}. Give another output directory (--out), or {how}")


def claim_output_dir(out: Path, inputs: dict, command: str, *, force: bool = False,
                     continue_changed: bool = False, outputs: Sequence[str] = (),
                     fixed: Sequence[str] = (), what: str = "") -> str:
    """Record ``inputs`` in ``out``, or check them against the record there.  One process.

    Parameters
    ----------
    out
        The output directory (created when missing).
    inputs
        JSON-able mapping of everything that determines the results.
    command
        ``hpcml md`` ..., for messages and the record.
    force
        Delete the outputs (``outputs`` globs) of an earlier run and start afresh.
    continue_changed
        Accept changed inputs (except ``fixed`` ones) and go on.
    outputs
        Glob patterns of this command's outputs below ``out``.
    fixed
        Names of keys (at any depth of ``inputs``) that a continued run cannot change.
    what
        What the directory is, for the lock's messages (as the command's own lock).

    Returns
    -------
    str
        ``"new"``, ``"same"`` (resume), ``"changed"`` (continued) or ``"forced"``.

    Raises
    ------
    ConfigError
        For a file at ``out``, or a mismatch that is not allowed.
    LockedError
        When another job holds the directory's lock.
    """
    from hpcml.io.lock import DirLock

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a directory; {command} writes a "
                          "directory: give a new or empty directory")
    with DirLock(out, what or f"output directory of {command}",
                 hint="give each job its own output directory (--out)"):
        return _claim(out, inputs, command, force, continue_changed, outputs, fixed)


def _claim(out: Path, inputs: dict, command: str, force: bool, continue_changed: bool,
           outputs: Sequence[str], fixed: Sequence[str]) -> str:
    """:func:`claim_output_dir` under the directory's lock."""
    record = {"command": command, "inputs": json.loads(json.dumps(inputs))}
    path = out / RECORD
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            old_inputs = old["inputs"]
        except (ValueError, KeyError, TypeError):
            old, old_inputs = {}, None
        if old_inputs == record["inputs"] and old.get("command") == command:
            return "same"
        if old_inputs is None:
            changed = [f"{path} is unreadable"]
        else:
            changed = differences(old_inputs, record["inputs"])
        keys = [c.split(": ", 1)[0] for c in changed]
        bad = sorted({part for k in keys for part in re.split(r"[.\[\]]+", k)} & set(fixed))
        if force:
            _remove_outputs(out, [*outputs, RECORD])
            _write_record(out, record)
            return "forced"
        if not continue_changed or bad or old.get("command", command) != command:
            raise ConfigError(_refusal(out, command, old, changed, bad))
        record["previous"] = [*old.get("previous", []), old_inputs]
        _write_record(out, record)
        return "changed"
    found = [p.name for pattern in outputs for p in out.glob(pattern)] if out.is_dir() else []
    if found and not force:
        raise ConfigError(f"{out} already holds outputs ({', '.join(sorted(found)[:5])}) but "
                          f"no {RECORD} saying which inputs made them; give another output "
                          "directory (--out), or pass --force to delete them and start afresh")
    _remove_outputs(out, outputs)
    _write_record(out, record)
    return "forced" if found else "new"
