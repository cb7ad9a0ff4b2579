"""Layout of a run directory and the guard against mixing configs.

::

    WORKDIR/
      run.json            the config that made the directory (and its hash)
      journal.jsonl       stage start/done records (hpcml.workflow.journal)
      init/               perturbed.h5, labeled.h5, label-work/
      iter.000/
        00.train/         member_<k>/ (checkpoint.pt, lcurve.out), ensemble.pt
        01.explore/       walker_<k>/ (devi.out, traj.h5, ...), candidates.h5, selected.h5
        02.label/         labeled.h5, work/ (CP2K task directories and markers)
        03.check/         (last iteration) sample.h5, labeled.h5, result.json
      report/             PNG plots, summary.md
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hpcml.errors import ConfigError

#: Config keys that may change between runs of one directory (they change no result).
MUTABLE_KEYS = (("run", "log_level"), ("run", "log_per_rank"), ("run", "workdir"),
                ("loop", "max_iterations"), ("parallel", "threads_per_rank"))


@dataclass(frozen=True)
class RunDir:
    """Paths inside a run directory."""

    root: Path

    def iteration(self, i: int) -> Path:
        """Directory of iteration ``i``."""
        return self.root / f"iter.{i:03d}"

    def train(self, i: int) -> Path:
        """Training stage of iteration ``i``."""
        return self.iteration(i) / "00.train"

    def explore(self, i: int) -> Path:
        """Exploration stage of iteration ``i``."""
        return self.iteration(i) / "01.explore"

    def label(self, i: int) -> Path:
        """Labeling stage of iteration ``i``."""
        return self.iteration(i) / "02.label"

    @property
    def init(self) -> Path:
        """Initial-data stage."""
        return self.root / "init"

    def check(self, i: int) -> Path:
        """Final accuracy check, after iteration ``i``."""
        return self.iteration(i) / "03.check"

    @property
    def report(self) -> Path:
        """Plots and summary of ``hpcml report``."""
        return self.root / "report"

    @property
    def run_json(self) -> Path:
        """Record of the config that made the directory."""
        return self.root / "run.json"


def real_paths(data: object) -> object:
    """``data`` with every string naming an existing path made absolute (symlinks resolved)."""
    if isinstance(data, dict):
        return {k: real_paths(v) for k, v in data.items()}
    if isinstance(data, list):
        return [real_paths(v) for v in data]
    if isinstance(data, str) and ("/" in data or "." in data) and os.path.exists(data):
        return os.path.realpath(data)
    return data


def config_fingerprint(config_dump: dict) -> dict:
    """The part of a config dump that must match to continue a run directory."""
    data = real_paths(json.loads(json.dumps(config_dump)))
    for section, key in MUTABLE_KEYS:
        data.get(section, {}).pop(key, None)
    return data


def config_hash(config_dump: dict) -> str:
    """SHA-256 of :func:`config_fingerprint`."""
    text = json.dumps(config_fingerprint(config_dump), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config fingerprints."""
    keys = sorted(set(old) | set(new))
    out = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, name + ".")
        elif a != b:
            out.append(name)
    return out


def claim(rundir: RunDir, config_dump: dict, source: str, allow_changed: bool) -> bool:
    """Record the config in a new run directory, or check it against the recorded one.

    Returns True when the directory is new.  Call on one process.

    Raises
    ------
    ConfigError
        When the directory was made by a config that differs in keys that
        change results, unless ``allow_changed``, or is a file.
    """
    if rundir.root.exists() and not rundir.root.is_dir():
        raise ConfigError(f"run.workdir {rundir.root}: is a file, not a directory; give a new "
                          "or existing run directory (run.workdir or --workdir)")
    fingerprint = config_fingerprint(config_dump)
    record = {"config": config_dump, "source": source, "hash": config_hash(config_dump)}
    if rundir.run_json.exists():
        old = json.loads(rundir.run_json.read_text())
        if old["hash"] == record["hash"]:
            return False
        changed = _differences(config_fingerprint(old["config"]), fingerprint)
        if not allow_changed:
            raise ConfigError(
                f"{rundir.root} was made by another config ({old.get('source')}); these keys "
                f"differ: {', '.join(changed) or '(paths)'}. Use another run.workdir (or "
                "--workdir), or pass --continue-changed to go on with the new settings")
        old_runs = old.get("previous", []) + [{k: old[k] for k in ("source", "hash")}]
        record["previous"] = old_runs
    rundir.root.mkdir(parents=True, exist_ok=True)
    tmp = rundir.run_json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, rundir.run_json)
    return True
