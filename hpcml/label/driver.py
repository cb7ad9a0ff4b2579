"""The labeling stage: candidates in, labeled HDF5 frame store out (collective).

prep (rank 0: lock the workdir, find CP2K, validate the template and the
frames, check the workdir was made for these inputs; plan the tasks without a
valid completion marker; every rank: check that it can run CP2K) -> run (tasks
handed out over the ranks, each rank keeping ``tasks_per_rank`` CP2K processes
going) -> post (rank 0: collect the markers, apply the failure budget, write
the store atomically or append to it, the provenance sidecar and the exports).
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcml.config.label import LabelSection
from hpcml.errors import DataError, UserError
from hpcml.io import Frames
from hpcml.io.lock import DirLock
from hpcml.label.cp2k.input import CP2KTemplate, check_cells, deep_merge
from hpcml.label.cp2k.program import CP2KNotFoundError, CP2KProgram, find_cp2k
from hpcml.label.markers import check_workdir_inputs, done_tasks, marker_state, task_key
from hpcml.label.markers import read_marker as read_marker
from hpcml.label.markers import task_paths as _task_paths
from hpcml.label.profiles import load_profile
from hpcml.label.runner import RunSettings, Structure, run_tasks
from hpcml.label.templates import builtin_template_path
from hpcml.parallel import Context, TaskQueue, collective_call, root_call

_log = logging.getLogger(__name__)

LABEL_KEYS = ("energy", "force")


class FailureBudgetError(DataError):
    """More frames failed than ``label.ratio_failed`` allows."""


@dataclass
class LabelSummary:
    """What a labeling stage did (the same on every rank)."""

    out: str
    n_candidates: int
    n_labeled: int
    n_failed: int
    n_run: int
    failures: dict[str, int]
    method: str
    cp2k: str
    wall_seconds: float
    cp2k_seconds: float
    task_seconds: float

    @property
    def overhead(self) -> float:
        """Runner time outside CP2K as a share of CP2K time (tasks run this job)."""
        return (self.task_seconds - self.cp2k_seconds) / self.cp2k_seconds \
            if self.cp2k_seconds else 0.0

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {**self.__dict__, "overhead": self.overhead}


@dataclass(frozen=True)
class Plan:
    """Prepared on rank 0 and broadcast: template, program, task keys, pending tasks."""

    template: CP2KTemplate
    program: CP2KProgram
    method: str
    pending: list[int]
    keys: list[str]


def _keys(frames: Frames, input_hash: str, virial: bool) -> list[str]:
    """The task key of every frame (:func:`~hpcml.label.markers.task_key`)."""
    return [task_key(s.cell, s.coord, s.symbols, input_hash, virial)
            for s in _structures(frames, range(frames.n_frames))]


def load_labeler(section: LabelSection, elements: list[str],
                 patch: dict | None = None) -> tuple[CP2KProgram, CP2KTemplate]:
    """Rank 0: the CP2K binary and the checked template (``patch`` merged over it).

    Raises
    ------
    UserError
        For a missing CP2K, a bad template or ``elements`` without parameters.
    """
    program = find_cp2k(section.cp2k)
    template = CP2KTemplate.load(section.template or builtin_template_path(),
                                 program.xml_spec())
    source = template.source if section.template else "built-in GFN1-xTB (inputs/cp2k/xtb.inp)"
    tree = deep_merge(copy.deepcopy(template.tree), dict(patch)) if patch else template.tree
    if patch or section.template is None:
        template = CP2KTemplate.from_tree(tree, source, template.xmlspec)
    template.check_elements(elements, program.data_dir)
    return program, template


def _prepare(section: LabelSection, frames: Frames, candidates: str) -> Plan:
    """Rank 0: find CP2K, load and check the template, check cells, list pending tasks."""
    if frames.n_frames == 0:
        raise DataError("no candidate frames to label")
    check_cells(frames["cell"])
    used = sorted({frames.type_map[t] for t in np.unique(frames["atype"])})
    program, template = load_labeler(section, used)
    load_profile(section.profile)
    check_workdir_inputs(Path(section.workdir), {
        "frames_sha256": _frames_hash(frames), "input_hash": template.text_hash,
        "virial": section.virial, "n_frames": frames.n_frames, "candidates": candidates,
        "template": template.source}, section.reuse_workdir)
    keys = _keys(frames, template.text_hash, section.virial)
    done, states = done_tasks(section.workdir, keys, section.group_size, section.keep_failed)
    pending = [i for i in range(frames.n_frames) if i not in done]
    _log.info("label: %d candidate frame(s), %d already done, %d to run with %s (%s)",
              frames.n_frames, len(done), len(pending), template.method, program.label)
    if states["failed"]:
        _log.info("label: %d failed task(s) %s", states["failed"], "kept failed (keep_failed)"
                  if section.keep_failed else "retried (--keep-failed keeps them failed)")
    if states["stale"]:
        _log.warning("label: %d marker(s) in %s belong to other frames or inputs; those "
                     "tasks run again", states["stale"], section.workdir)
    return Plan(template, program, section.method or template.method, pending, keys)


def _structures(frames: Frames, indices: Iterable[int],
                keys: list[str] | None = None) -> list[Structure]:
    symbols = np.array(frames.type_map)
    out = []
    for i in indices:
        f = frames.frame(i)
        out.append(Structure(i, f["cell"], f["coord"], tuple(symbols[f["atype"]].tolist()),
                             keys[i] if keys else ""))
    return out


def _settings(section: LabelSection, plan: Plan) -> RunSettings:
    return RunSettings(cp2k=plan.program.path, profile=load_profile(section.profile),
                       ranks=section.ranks_per_task, threads=section.threads_per_task,
                       timeout=section.timeout, retries=tuple(section.retries),
                       virial=section.virial, scratch=section.scratch,
                       group_size=section.group_size)


def _collect(section: LabelSection, plan: Plan) -> tuple[list[int], dict[int, dict]]:
    """Labeled frame indices and the results of every task, from the markers."""
    results = {}
    for i, key in enumerate(plan.keys):
        marker = _task_paths(section.workdir, i, section.group_size)[1]
        state = marker_state(marker, key)
        results[i] = read_marker(marker) if state in ("ok", "failed") else {
            "ok": False, "reason": f"no result for this frame in {marker} ({state}; was the "
            "workdir changed by another job?)"}
    return [i for i, r in results.items() if r["ok"]], results


def labeled_frames(frames: Frames, indices: list[int], results: dict[int, dict],
                   virial: bool) -> Frames:
    """The candidate frames at ``indices`` with energy, force (and virial) from ``results``."""
    part = frames.select(indices)
    arrays = {k: v for k, v in part.arrays.items() if k not in ("energy", "force", "virial")}
    if "frame_id" not in arrays:
        arrays["frame_id"] = np.asarray(indices, np.int64)
    arrays["energy"] = np.array([results[i]["energy"] for i in indices], float)
    arrays["force"] = np.concatenate([results[i]["force"] for i in indices]) if indices \
        else np.zeros((0, 3))
    if virial:
        arrays["virial"] = np.array([results[i]["virial"] for i in indices]).reshape(-1, 3, 3)
    return Frames(part.type_map, arrays)


def _budget(section: LabelSection, results: dict[int, dict]) -> dict[str, int]:
    """Failure reasons by count; raise FailureBudgetError when over the budget."""
    failed = {i: r["reason"] for i, r in results.items() if not r["ok"]}
    reasons = dict(collections.Counter(failed.values()).most_common())
    report = Path(section.workdir) / "failed.json"
    tmp = report.with_suffix(".tmp")
    tmp.write_text(json.dumps({str(i): r for i, r in failed.items()}, indent=1))
    os.replace(tmp, report)
    ratio = len(failed) / max(1, len(results))
    if ratio > section.ratio_failed:
        lines = "\n".join(f"  {n} x {reason}" for reason, n in list(reasons.items())[:10])
        raise FailureBudgetError(
            f"label: {len(failed)} of {len(results)} frames failed ({ratio:.0%} > "
            f"label.ratio_failed = {section.ratio_failed:.0%}); no store written. "
            f"Reasons:\n{lines}\nPer-frame reasons: {report}. Fix the cause (template, "
            "CP2K installation) or raise label.ratio_failed, then rerun: a rerun keeps the "
            "frames labeled so far and retries the failed ones (--keep-failed keeps them "
            "failed)")
    return reasons


def _post(section: LabelSection, frames: Frames, plan: Plan, candidates: str) -> dict:
    """Rank 0: budget, store, provenance, exports; return the summary fields."""
    from hpcml.label.store import export_frames, save_labeled

    indices, results = _collect(section, plan)
    reasons = _budget(section, results)
    labeled = labeled_frames(frames, indices, results, section.virial)
    provenance = {"method": plan.method, "cp2k": plan.program.label,
                  "cp2k_version": plan.program.version, "cp2k_binary": plan.program.path,
                  "input_hash": plan.template.text_hash, "template": plan.template.source,
                  "virial": section.virial, "candidates": candidates,
                  "candidates_sha256": _file_hash(candidates),
                  "frames_sha256": _frames_hash(frames),
                  "n_candidates": frames.n_frames, "n_labeled": len(indices),
                  "n_failed": frames.n_frames - len(indices), "failures": reasons,
                  "retries": list(section.retries),
                  "exports": [str(Path(p).resolve()) for p in (section.export_deepmd,
                                                               section.export_extxyz) if p]}
    save_labeled(section.out, labeled, provenance, append=section.append)
    export_frames(labeled, section.export_deepmd, section.export_extxyz)
    return {"n_labeled": len(indices), "failures": reasons}


def _frames_hash(frames: Frames) -> str:
    """SHA-256 of the candidate structures (type_map, cells, coordinates, types)."""
    digest = hashlib.sha256(json.dumps(frames.type_map).encode())
    for key in ("natoms", "cell", "coord", "atype"):
        digest.update(np.ascontiguousarray(frames[key]).tobytes())
    return digest.hexdigest()


def _file_hash(path: str) -> str:
    """SHA-256 of a candidate file (of the file names and sizes for a directory)."""
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    elif p.is_dir():
        for child in sorted(p.rglob("*")):
            if child.is_file():
                digest.update(child.read_bytes())
    else:
        digest.update(str(path).encode())
    return digest.hexdigest()


def concurrent_tasks(ctx: Context, section: LabelSection,
                     allocation: tuple[int, str] | None = None) -> int:
    """CP2K runs this rank keeps going at once: ``tasks_per_rank``, capped to the allocation.

    Inside a batch allocation (:func:`hpcml.parallel.launcher.allocation_cpus`,
    default) all ranks together start at most ``cpus // (ranks_per_task x
    threads_per_task)`` runs, dealt over the ranks (a rank may get none):
    more would ask Slurm for steps that wait for cores while their
    ``label.timeout`` runs, or oversubscribe the cores.

    Raises
    ------
    UserError
        When one run needs more CPUs than the whole allocation has.
    """
    from hpcml.parallel.launcher import allocation_cpus

    want = section.tasks_per_rank
    found = allocation_cpus() if allocation is None else allocation
    if found is None:
        return want
    cpus, source = found
    per_run = section.ranks_per_task * section.threads_per_task
    if per_run > cpus:
        raise UserError(f"label.ranks_per_task x threads_per_task = {per_run} CPUs per CP2K "
                        f"run, but the allocation has {cpus} ({source}); lower them or "
                        "ask for more CPUs")
    slots = cpus // per_run
    if ctx.size * want <= slots:
        return want
    if ctx.is_root:
        _log.warning("label: %d rank(s) x tasks_per_rank %d CP2K runs of %d CPU(s) would need "
                     "%d CPUs but the allocation has %d (%s): running %d at a time",
                     ctx.size, want, per_run, ctx.size * want * per_run, cpus, source, slots)
    return slots // ctx.size + (ctx.rank < slots % ctx.size)


def _drawn(queue: TaskQueue, frames: Frames, pending: list[int],
           keys: list[str]) -> Iterator[Structure]:
    """Structures of the pending tasks this rank draws from the job-wide queue."""
    while (k := queue.next()) is not None:
        yield _structures(frames, [pending[k]], keys)[0]


def label_frames(ctx: Context, section: LabelSection, frames: Frames,
                 candidates: str = "<memory>") -> LabelSummary:
    """Label ``frames`` with CP2K and write ``section.out`` (collective over ``ctx``).

    Every rank passes the same ``frames``.  Rank 0 locks ``section.workdir``
    for the whole call (:class:`~hpcml.io.lock.DirLock`).  Tasks without a
    valid completion marker are handed out as ranks (and their ``tasks_per_rank`` workers)
    become free (:class:`~hpcml.parallel.TaskQueue`); rank 0 then writes the
    store.

    Raises
    ------
    FailureBudgetError
        When more than ``section.ratio_failed`` of the frames failed.
    UserError
        For a missing CP2K (on any rank), a bad template, elements without
        parameters, frames without a cell, a workdir locked by another job
        (:class:`~hpcml.io.lock.LockedError`) or made for other inputs.
    """
    start = time.perf_counter()
    lock = DirLock(section.workdir, "label.workdir",
                   hint="give each job its own label.workdir (--workdir DIR)")
    root_call(ctx, _acquire, lock)
    try:
        plan = root_call(ctx, _prepare, section, frames, candidates)
        if plan.pending:
            check_labeler(ctx, plan.program)
        workers = concurrent_tasks(ctx, section) if plan.pending else section.tasks_per_rank
        with TaskQueue(ctx, len(plan.pending)) as queue:
            drawn = _drawn(queue, frames, plan.pending, plan.keys) if workers else iter(())
            stats = collective_call(ctx, run_tasks, plan.template, drawn,
                                    _settings(section, plan), Path(section.workdir),
                                    max(workers, 1))
        stats = [s for part in ctx.comm.allgather(stats) for s in part]
        post = root_call(ctx, _post, section, frames, plan, candidates)
    finally:
        if ctx.is_root:
            lock.release()
    n_labeled = post["n_labeled"]
    return LabelSummary(
        out=str(section.out), n_candidates=frames.n_frames, n_labeled=n_labeled,
        n_failed=frames.n_frames - n_labeled, n_run=len(stats), failures=post["failures"],
        method=plan.method, cp2k=plan.program.label,
        wall_seconds=time.perf_counter() - start,
        cp2k_seconds=sum(s["cp2k_seconds"] for s in stats),
        task_seconds=sum(s["task_seconds"] for s in stats))


def _acquire(lock: DirLock) -> None:
    """Rank 0: take the workdir lock (nothing is returned to broadcast)."""
    lock.acquire()


def check_labeler(ctx: Context, program: CP2KProgram) -> None:
    """Every rank: ``program`` runs here and is the same version (collective).

    A rank that cannot run CP2K would otherwise take tasks and fail them all
    in under a second.

    Raises
    ------
    CP2KNotFoundError
        On every rank, naming each failing rank and its host.
    """
    error = ""
    if not ctx.is_root:
        try:
            found = find_cp2k(program.path)
            if found.version != program.version:
                error = f"{program.path} is CP2K {found.version}, rank 0 runs {program.version}"
        except UserError as exc:
            error = str(exc)
    reports = ctx.comm.allgather((ctx.rank, socket.gethostname(), error))
    bad = [f"rank {r} (host {host}): {err}" for r, host, err in reports if err]
    if bad:
        raise CP2KNotFoundError(
            f"label: CP2K does not run on {len(bad)} of {ctx.size} rank(s), so no task was "
            f"started: {'; '.join(bad)}. Every rank takes tasks: install the same CP2K on "
            "every node (or load its module in the job script), set label.cp2k to a binary "
            "that exists on all of them, or run on the nodes that have it")
