"""The MPI + parallel-HDF5 smoke job that ``hpcml demo`` runs until the loop exists.

Every rank takes its share of the frames of a labeled system, the ranks
append them collectively to one frame store ``repeats`` times, rank 0 writes
the same frames with the serial writer, and the job checks that the two files
hold identical frames and that every rank reads back exactly its own slab.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.io import Frames, read_any
from hpcml.io.store import append_frames, create_store, read_frames, resolve_writer
from hpcml.parallel import allreduce_max, parallel_assert, slab_offsets

if TYPE_CHECKING:
    from hpcml.parallel import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmokeReport:
    """Outcome of :func:`run_smoke_job` (the same on every rank)."""

    ranks: int
    writer: str
    frames: int
    atoms: int
    megabytes: float
    seconds_parallel: float
    seconds_serial: float
    max_net_force: float
    path: Path

    def verdict(self) -> str:
        """One line for the user."""
        return (
            f"OK: {self.frames} frames ({self.atoms} atoms, {self.megabytes:.1f} MB) from "
            f"{self.ranks} rank(s) written with the {self.writer!r} writer in "
            f"{self.seconds_parallel:.2f} s (serial writer: {self.seconds_serial:.2f} s) "
            f"and read back identical to the serial file; largest net force on a frame "
            f"{self.max_net_force:.2e} eV/A; {self.path}"
        )


def local_share(sample: Frames, first: int, n_local: int, iteration: int) -> Frames:
    """Frames ``first ... first + n_local - 1`` of ``sample``, taken cyclically.

    Metadata: ``frame_id`` is the global index, ``iteration`` the repeat and
    ``system`` 0.
    """
    ids = np.arange(first, first + n_local)
    part = sample.select(ids % sample.n_frames)
    meta = {"frame_id": ids, "iteration": np.full(n_local, iteration), "system": 0 * ids}
    return Frames(type_map=part.type_map, arrays={**part.arrays, **meta})


def run_smoke_job(ctx: Context, system: Path, fmt: str, type_map: list[str] | None,
                  frames_per_rank: int, repeats: int, outdir: Path,
                  writer: str = "auto") -> SmokeReport:
    """Run the smoke job; collective over ``ctx``.

    Parameters
    ----------
    ctx
        Context of the job.
    system
        Labeled frames to replicate (deepmd/npy directory, extxyz or HDF5).
    fmt, type_map
        Format of ``system`` and element order (see :func:`hpcml.io.read_any`).
    frames_per_rank, repeats
        Each rank appends ``frames_per_rank`` frames, ``repeats`` times.
    outdir
        Directory for ``frames.h5`` (parallel) and ``frames_serial.h5``.
    writer
        Frame-store writer (``auto``, ``mpio``, ``gather``).
    """
    sample = ctx.comm.bcast(read_any(system, fmt, type_map) if ctx.is_root else None)
    log.info("sample %s: %d frames of %d atoms", system, sample.n_frames, sample["natoms"][0])
    first, _ = slab_offsets(ctx, frames_per_rank)
    shares = [local_share(sample, first, frames_per_rank, it) for it in range(repeats)]
    name = resolve_writer(ctx, writer)
    path, serial = outdir / "frames.h5", outdir / "frames_serial.h5"
    if ctx.is_root:
        outdir.mkdir(parents=True, exist_ok=True)
        for old in (path, serial):
            old.unlink(missing_ok=True)
    seconds = _timed_appends(ctx, path, shares, name)
    seconds_serial = _serial_reference(ctx, serial, shares)
    _check_own_slabs(ctx, path, shares)
    _check_identical(ctx, path, serial)
    return _report(ctx, path, name, seconds, seconds_serial)


def _timed_appends(ctx: Context, path: Path, shares: list[Frames], writer: str) -> float:
    """Create the store and append every share collectively; return the seconds."""
    create_store(path, shares[0].type_map, shares[0].keys, ctx)
    ctx.comm.barrier()
    start = time.perf_counter()
    for it, share in enumerate(shares):
        total = append_frames(path, share, ctx, writer)
        log.info("append %d/%d: %d frames committed", it + 1, len(shares), total)
    return allreduce_max(ctx, time.perf_counter() - start)


def _serial_reference(ctx: Context, path: Path, shares: list[Frames]) -> float:
    """Gather every share to rank 0 and write it there with the serial writer."""
    gathered = [ctx.comm.gather(share) for share in shares]
    seconds = 0.0
    if ctx.is_root:
        start = time.perf_counter()
        create_store(path, shares[0].type_map, shares[0].keys)
        for parts in gathered:
            append_frames(path, Frames.concat(parts), writer="serial")
        seconds = time.perf_counter() - start
    return ctx.comm.bcast(seconds)


def _check_own_slabs(ctx: Context, path: Path, shares: list[Frames]) -> None:
    """Every rank reads back its own frames from the parallel file."""
    stored = read_frames(path)
    errors = []
    base = 0
    for share in shares:
        offset, total = slab_offsets(ctx, share.n_frames)
        mine = stored.select(np.arange(base + offset, base + offset + share.n_frames))
        errors.append(mine.difference(share))
        base += total
    problems = [e for e in errors if e]
    parallel_assert(ctx, not problems, f"own slab differs: {problems}")


def _check_identical(ctx: Context, path: Path, serial: Path) -> None:
    """Rank 0 compares the parallel file with the serial one, frame for frame."""
    problem = read_frames(path).difference(read_frames(serial)) if ctx.is_root else None
    parallel_assert(ctx, ctx.comm.bcast(problem) is None,
                    f"{path} differs from {serial}: {problem}")


def _report(ctx: Context, path: Path, writer: str, seconds: float,
            seconds_serial: float) -> SmokeReport:
    """Summarize the stored file (net force per frame checks the labels' physics)."""
    frames = read_frames(path)
    net = [np.abs(frames["force"][s].sum(axis=0)).max() for s in frames.atom_slices]
    size = path.stat().st_size / 1e6
    return SmokeReport(ctx.size, writer, frames.n_frames, frames.n_atoms, size, seconds,
                       seconds_serial, float(max(net)), path)

