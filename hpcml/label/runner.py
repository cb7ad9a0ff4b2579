"""Run labeling tasks: one CP2K run (plus retries) per frame, with completion markers.

Layout under the work directory::

    .hpcml.lock            who is labeling here (hpcml.io.lock)
    inputs.json            hashes of the frames and input the workdir was made for
    g0000/                 tasks 0..group_size-1
      t000000/             scratch of the running task (removed or archived after parsing)
      t000000.log.gz       CP2K log of the last attempt (scratch="archive")
      t000000.npz          completion marker and result, with the task key (atomic)

A task whose marker holds its key and succeeded is done and not run again, so
a killed job rerun does only the missing tasks; failed tasks are retried by a
rerun unless ``keep_failed`` (see :mod:`hpcml.label.markers`).
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
from hpcml.label.markers import read_marker, task_paths, write_marker
from hpcml.label.process import describe_exit, output_tail, run_child
from hpcml.label.profiles import LaunchProfile

__all__ = ["INPUT", "OUTPUT", "RunSettings", "Structure", "read_marker", "run_task",
           "run_tasks", "task_paths", "write_marker"]

_log = logging.getLogger(__name__)

INPUT, OUTPUT, OWNER = "cp2k.inp", "cp2k.log", "owner.txt"


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
    """One frame to label: cell (3, 3) and coord (natoms, 3) Angstrom, element per atom.

    ``key`` identifies frame and input (:func:`hpcml.label.markers.task_key`);
    it is stored in the marker.
    """

    index: int
    cell: np.ndarray
    coord: np.ndarray
    symbols: tuple[str, ...]
    key: str = ""


def _execute(settings: RunSettings, directory: Path) -> tuple[str | None, float, str]:
    """Run CP2K in ``directory``; return (log text or None, seconds, failure note)."""
    argv = settings.profile.argv(settings.cp2k, INPUT, OUTPUT, settings.ranks, settings.threads)
    env = settings.profile.environment(settings.ranks, settings.threads)
    start, note = time.perf_counter(), ""
    try:
        status = run_child(argv, directory, env, directory / "stdout.txt", settings.timeout)
        if status != 0:
            note = describe_exit(status)
    except subprocess.TimeoutExpired:
        note = f"timed out after {settings.timeout:g} s"
    except FileNotFoundError as exc:
        note = f"binary not found: cannot start {argv[0]!r} ({exc.strerror})"
    except OSError as exc:
        note = f"cannot start {argv[0]!r}: {exc}"
    seconds = time.perf_counter() - start
    log = directory / OUTPUT
    return (log.read_text(errors="replace") if log.exists() else None), seconds, note


def _owner_token() -> str:
    return f"{os.getpid()}:{threading.get_ident()}:{time.time_ns()}"


def _collision(directory: Path, token: str) -> str:
    """A reason when another process changed ``directory`` during the run, else ``""``."""
    try:
        if (directory / OWNER).read_text() == token:
            return ""
    except OSError:
        pass
    return (f"task directory {directory} was removed or reused by another process during "
            "the run (two jobs in one label.workdir?); rerun alone")


def _failure(note: str, result: CP2KResult, text: str | None, directory: Path) -> CP2KResult:
    """The failed result of a run that ended with ``note`` (one message per cause)."""
    if "cannot start" in note:
        return CP2KResult(ok=False, reason=f"CP2K {note}", version=result.version)
    if not text:
        tail = output_tail(directory / "stdout.txt")
        said = f"; its output ends: {tail!r}" if tail else "; it printed nothing"
        return CP2KResult(ok=False, reason=f"CP2K {note}; no CP2K log written{said}",
                          version=result.version)
    if result.ok:
        return CP2KResult(ok=False, reason=f"CP2K {note} although its log looks complete",
                          version=result.version)
    return CP2KResult(ok=False, reason=f"CP2K {note}; {result.reason}", version=result.version)


def _attempt(template: CP2KTemplate, frame: Structure, settings: RunSettings, directory: Path,
             patch: dict | None) -> tuple[CP2KResult, float, str | None]:
    """One CP2K run of ``frame`` in a fresh ``directory``; (result, cp2k seconds, log)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    token = _owner_token()
    (directory / OWNER).write_text(token)
    tree = template.fill(frame.cell, frame.coord, list(frame.symbols), settings.virial, patch)
    (directory / INPUT).write_text(render_input(tree, template.xmlspec, template.source))
    text, seconds, note = _execute(settings, directory)
    collision = _collision(directory, token)
    if collision:
        return CP2KResult(ok=False, reason=collision), seconds, None
    result = parse_output(text, list(frame.symbols), frame.cell, settings.virial)
    if note:
        result = _failure(note, result, text, directory)
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
    write_marker(marker, result, attempt, cp2k_s, task_s, frame.key)
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
