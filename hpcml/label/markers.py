"""Completion markers of labeling tasks, keyed by what was labeled.

Each task's result is ``workdir/gNNNN/tNNNNNN.npz``, written atomically.  It
carries the task *key*: a SHA-256 of the frame (cell, coordinates, elements)
and of the input (template hash, virial flag).  A marker counts as done only
when its key equals the key of the frame now at that index, so a workdir
reused for other candidates, another template or ``virial`` never hands out
old labels.  Failed tasks have markers too (with the reason), but they count
as done only with ``keep_failed``; otherwise a rerun retries them.

``workdir/inputs.json`` records the inputs a workdir was made for (hashes of
the frames and the template, the virial flag); :func:`check_workdir_inputs`
refuses a workdir made for other inputs unless told to reuse it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from hpcml.errors import ConfigError

_log = logging.getLogger(__name__)

INPUTS = "inputs.json"


def task_key(cell: np.ndarray, coord: np.ndarray, symbols: tuple[str, ...] | list[str],
             input_hash: str, virial: bool) -> str:
    """SHA-256 (hex) of one task: cell (3, 3) and coord (natoms, 3) A, elements, input."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(cell, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(coord, dtype="<f8").tobytes())
    digest.update(" ".join(symbols).encode())
    digest.update(f"|{input_hash}|virial={bool(virial)}".encode())
    return digest.hexdigest()


def task_paths(workdir: Path, index: int, group_size: int) -> tuple[Path, Path]:
    """``(scratch directory, marker file)`` of task ``index``."""
    group = Path(workdir) / f"g{index // group_size:04d}"
    return group / f"t{index:06d}", group / f"t{index:06d}.npz"


def write_marker(path: Path, result: object, attempts: int, cp2k_s: float, task_s: float,
                 key: str = "") -> None:
    """Write a task's :class:`~hpcml.label.cp2k.parse.CP2KResult` as ``path`` atomically."""
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    arrays = {"ok": np.bool_(result.ok), "reason": np.str_(result.reason),
              "energy": np.float64(result.energy), "attempts": np.int64(attempts),
              "cp2k_seconds": np.float64(cp2k_s), "task_seconds": np.float64(task_s),
              "scf_steps": np.int64(result.scf_steps), "version": np.str_(result.version),
              "key": np.str_(key)}
    if result.force is not None:
        arrays["force"] = result.force
    if result.virial is not None:
        arrays["virial"] = result.virial
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def read_marker(path: Path) -> dict:
    """The result stored by :func:`write_marker` as plain Python/numpy values."""
    with np.load(path, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    for key in ("ok", "reason", "version", "key"):
        out[key] = out[key].item() if key in out else ""
    return out


def marker_state(path: Path, key: str) -> str:
    """``"ok"``, ``"failed"``, ``"missing"`` or ``"stale"`` (other key or unreadable)."""
    if not path.exists():
        return "missing"
    try:
        marker = read_marker(path)
    except (OSError, ValueError, KeyError):
        return "stale"
    if marker["key"] != key:
        return "stale"
    return "ok" if marker["ok"] else "failed"


def done_tasks(workdir: Path, keys: list[str], group_size: int,
               keep_failed: bool = False) -> tuple[set[int], dict[str, int]]:
    """Indices whose marker holds their key (and succeeded, unless ``keep_failed``).

    Returns the done indices and a count of the marker states.
    """
    done, counts = set(), {"ok": 0, "failed": 0, "missing": 0, "stale": 0}
    for index, key in enumerate(keys):
        state = marker_state(task_paths(workdir, index, group_size)[1], key)
        counts[state] += 1
        if state == "ok" or (state == "failed" and keep_failed):
            done.add(index)
    return done, counts


def check_workdir_inputs(workdir: Path, inputs: dict, reuse: bool) -> None:
    """Record ``inputs`` in ``workdir``; refuse one made for other inputs unless ``reuse``.

    Raises
    ------
    ConfigError
        Naming the workdir, what differs and the ways out.
    """
    path = Path(workdir) / INPUTS
    old = _read_json(path)
    changed = [k for k in ("frames_sha256", "input_hash", "virial")
               if old and old.get(k) != inputs.get(k)]
    if changed and not reuse:
        names = {"frames_sha256": "the candidate frames", "input_hash": "the CP2K template",
                 "virial": "label.virial"}
        raise ConfigError(
            f"label.workdir {workdir} was made for other inputs: "
            f"{', '.join(names[k] for k in changed)} differ (it holds "
            f"{old.get('n_frames', '?')} task(s) of {old.get('candidates', '?')}). Use another "
            "label.workdir (--workdir DIR), delete it, or reuse it with --reuse-workdir "
            "(label.reuse_workdir: true): only tasks whose frame and input are unchanged "
            "keep their labels")
    if changed:
        _log.warning("label: reusing %s made for other inputs (%s differ); tasks of changed "
                     "frames are run again", workdir, ", ".join(changed))
    if old != inputs:
        tmp = path.with_name(f"{INPUTS}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(inputs, indent=1))
        os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {"frames_sha256": "<unreadable>"}
