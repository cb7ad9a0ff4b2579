"""Run labeling tasks: one CP2K run (plus retries) per frame, with completion markers.

Layout under the work directory::

    g0000/                 tasks 0..group_size-1
      t000000/             scratch of the running task (removed or archived after parsing)
      t000000.log.gz       CP2K log of the last attempt (scratch="archive")
      t000000.npz          completion marker and result (written atomically)

A task whose marker exists is done (labeled or failed with its reason) and is
not run again, so a killed job rerun does only the missing tasks.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcml.label.cp2k.input import CP2KTemplate, render_input, warm_up
from hpcml.label.cp2k.parse import CP2KResult, parse_output
from hpcml.label.profiles import LaunchProfile

_log = logging.getLogger(__name__)

INPUT, OUTPUT = "cp2k.inp", "cp2k.log"


@dataclass(frozen=True)
class RunSettings:
    """How tasks are run (from the ``label`` config section and the CP2K program)."""

    cp2k: str
    profile: LaunchProfile
    ranks: int = 1
    threads: int = 1
    timeout: float = 3600.0
    retries: tuple[dict, ...] = ()
    virial: bool = False
    scratch: str = "archive"
    group_size: int = 100


@dataclass(frozen=True)
class Structure:
    """One frame to label: cell (3, 3) and coord (natoms, 3) Angstrom, element per atom."""

    index: int
    cell: np.ndarray
    coord: np.ndarray
    symbols: tuple[str, ...]


def task_paths(workdir: Path, index: int, group_size: int) -> tuple[Path, Path]:
    """``(scratch directory, marker file)`` of task ``index``."""
    group = Path(workdir) / f"g{index // group_size:04d}"
    return group / f"t{index:06d}", group / f"t{index:06d}.npz"


def done_tasks(workdir: Path, n_tasks: int, group_size: int) -> set[int]:
    """Indices below ``n_tasks`` whose completion marker exists."""
    done = set()
    for marker in Path(workdir).glob("g*/t*.npz"):
        index = int(marker.stem[1:])
        if index < n_tasks and task_paths(workdir, index, group_size)[1] == marker:
            done.add(index)
    return done


def write_marker(path: Path, result: CP2KResult, attempts: int, cp2k_s: float,
                 task_s: float) -> None:
    """Write a task's result as ``path`` (.npz) atomically."""
    tmp = path.with_name(path.stem + ".tmp.npz")
    arrays = {"ok": np.bool_(result.ok), "reason": np.str_(result.reason),
              "energy": np.float64(result.energy), "attempts": np.int64(attempts),
              "cp2k_seconds": np.float64(cp2k_s), "task_seconds": np.float64(task_s),
              "scf_steps": np.int64(result.scf_steps), "version": np.str_(result.version)}
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
    for key in ("ok", "reason", "version"):
        out[key] = out[key].item()
    return out


def _execute(settings: RunSettings, directory: Path) -> tuple[str | None, float, str]:
    """Run CP2K in ``directory``; return (log text or None, seconds, failure note)."""
    argv = settings.profile.argv(settings.cp2k, INPUT, OUTPUT, settings.ranks, settings.threads)
    env = settings.profile.environment(settings.ranks, settings.threads)
    start, note = time.perf_counter(), ""
    try:
        with open(directory / "stdout.txt", "w") as out:
            proc = subprocess.run(argv, cwd=directory, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=settings.timeout)
        if proc.returncode != 0:
            note = f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired:
        note = f"timed out after {settings.timeout:g} s"
    except OSError as exc:
        note = f"cannot start {argv[0]!r}: {exc}"
    seconds = time.perf_counter() - start
    log = directory / OUTPUT
    return (log.read_text(errors="replace") if log.exists() else None), seconds, note


def _attempt(template: CP2KTemplate, frame: Structure, settings: RunSettings, directory: Path,
             patch: dict | None) -> tuple[CP2KResult, float, str | None]:
    """One CP2K run of ``frame`` in a fresh ``directory``; (result, cp2k seconds, log)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    tree = template.fill(frame.cell, frame.coord, list(frame.symbols), settings.virial, patch)
    (directory / INPUT).write_text(render_input(tree, template.xmlspec, template.source))
    text, seconds, note = _execute(settings, directory)
    result = parse_output(text, list(frame.symbols), frame.cell, settings.virial)
    if note and (result.ok or not text):
        result = CP2KResult(ok=False, reason=f"CP2K {note}" + (
            f"; {result.reason}" if not result.ok else ""), version=result.version)
    elif note and "timed out" in note:
        result.reason = f"CP2K {note}; {result.reason}"
    return result, seconds, text


def _dispose(directory: Path, log: str | None, settings: RunSettings) -> None:
    """Archive (gzip the log), delete or keep a finished task's scratch directory."""
    if settings.scratch == "keep":
        return
    if settings.scratch == "archive" and log:
        with gzip.open(directory.with_name(directory.name + ".log.gz"), "wt") as fh:
            fh.write(log)
    shutil.rmtree(directory, ignore_errors=True)


def run_task(template: CP2KTemplate, frame: Structure, settings: RunSettings,
             workdir: Path) -> dict:
    """Label ``frame``, retrying failed attempts with ``settings.retries``; write its marker.

    Returns
    -------
    dict
        ``index``, ``ok``, ``reason``, ``attempts``, ``cp2k_seconds`` (sum over
        attempts) and ``task_seconds`` (wall time of the whole task).
    """
    start = time.perf_counter()
    directory, marker = task_paths(workdir, frame.index, settings.group_size)
    patches = [None, *settings.retries]
    cp2k_s, reasons = 0.0, []
    for attempt, patch in enumerate(patches, start=1):
        result, seconds, log = _attempt(template, frame, settings, directory, patch)
        cp2k_s += seconds
        if result.ok:
            break
        reasons.append(result.reason)
        _log.warning("frame %d attempt %d/%d failed: %s", frame.index, attempt, len(patches),
                     result.reason)
    if not result.ok and len(reasons) > 1:
        result.reason = f"{result.reason} (after {len(reasons)} attempts; first: {reasons[0]})"
    _dispose(directory, log, settings)
    task_s = time.perf_counter() - start
    write_marker(marker, result, attempt, cp2k_s, task_s)
    return {"index": frame.index, "ok": result.ok, "reason": result.reason,
            "attempts": attempt, "cp2k_seconds": cp2k_s, "task_seconds": task_s}


def run_tasks(template: CP2KTemplate, frames: Iterable[Structure], settings: RunSettings,
              workdir: Path, concurrent: int = 1) -> list[dict]:
    """Run ``frames`` with up to ``concurrent`` CP2K processes at a time (this rank).

    ``frames`` may be a lazy iterable (e.g. drawing from a job-wide
    :class:`~hpcml.parallel.TaskQueue`): each worker thread takes the next
    frame when its previous CP2K run ends.
    """
    source, lock, warmed = iter(frames), threading.Lock(), []
    progress = _Progress()

    def take() -> Structure | None:
        with lock:
            frame = next(source, None)
            if frame is not None and not warmed:
                warm_up(template.xmlspec)
                warmed.append(True)
            return frame

    def worker() -> list[dict]:
        done = []
        while (frame := take()) is not None:
            stats = run_task(template, frame, settings, workdir)
            progress.tick(stats)
            done.append(stats)
        return done

    if concurrent <= 1:
        stats = worker()
    else:
        with ThreadPoolExecutor(max_workers=concurrent) as pool:
            futures = [pool.submit(worker) for _ in range(concurrent)]
            stats = [s for f in futures for s in f.result()]
    progress.report()
    return sorted(stats, key=lambda s: s["index"])


class _Progress:
    """Periodic progress lines of one rank's tasks (INFO: shown for rank 0)."""

    def __init__(self, every: float = 30.0):
        self.every, self.done, self.failed = every, 0, 0
        self.start = self.last = time.perf_counter()
        self.lock = threading.Lock()

    def tick(self, stats: dict) -> None:
        """Count one finished task; log when ``every`` seconds passed."""
        with self.lock:
            self.done += 1
            self.failed += not stats["ok"]
            if time.perf_counter() - self.last >= self.every:
                self.report()

    def report(self) -> None:
        """Log the tasks done so far."""
        self.last = now = time.perf_counter()
        if self.done:
            _log.info("label: %d task(s) done by this rank (%d failed), %.1f s per task",
                      self.done, self.failed, (now - self.start) / self.done)
