"""Labeling under mpirun: tasks spread over the ranks, one store, same labels as serial."""

import shutil

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.io import read_any
from hpcml.label import label_frames
from hpcml.label.runner import read_marker
from hpcml.label.samples import water_box
from hpcml.parallel import parallel_assert

pytestmark = [pytest.mark.mpi,
              pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="no cp2k.psmp")]


def test_tasks_spread_over_ranks(ctx, mpi_tmp_path):
    frames = water_box(3, list(range(ctx.size + 1)))  # 9-atom boxes, one more than ranks
    sec = parse_config({"label": {"workdir": str(mpi_tmp_path / "work"),
                                  "out": str(mpi_tmp_path / "labeled.h5")}}).label
    summary = label_frames(ctx, sec, frames)
    parallel_assert(ctx, summary.n_labeled == frames.n_frames, f"{summary}")
    parallel_assert(ctx, summary.n_run == frames.n_frames, f"{summary.n_run} tasks run")
    labeled = read_any(mpi_tmp_path / "labeled.h5")
    parallel_assert(ctx, np.array_equal(labeled["coord"], frames["coord"]), "coords differ")
    parallel_assert(ctx, np.all(np.isfinite(labeled["force"])), "non-finite forces")
    marker = read_marker(mpi_tmp_path / "work" / "g0000" / "t000000.npz")
    parallel_assert(ctx, labeled["energy"][0] == marker["energy"], "energy != marker")
    again = label_frames(ctx, sec, frames)
    parallel_assert(ctx, again.n_run == 0, "a rerun ran tasks again")


def test_a_rank_without_cp2k_stops_the_job_before_any_task(ctx, mpi_tmp_path, monkeypatch):
    """Before: the rank without CP2K drew tasks and failed them in under a second."""
    from hpcml.label.cp2k.program import CP2KNotFoundError

    if ctx.size < 2:
        pytest.skip("needs 2 ranks")
    wrapper = mpi_tmp_path / "cp2k.sh"  # CP2K everywhere except where NO_CP2K is set
    if ctx.is_root:
        wrapper.write_text(f'#!/bin/sh\n[ -n "$NO_CP2K" ] && exit 127\n'
                           f'exec {shutil.which("cp2k.psmp")} "$@"\n')
        wrapper.chmod(0o755)
    ctx.comm.barrier()
    monkeypatch.setenv("HPCML_CACHE", str(mpi_tmp_path / "cache"))
    if ctx.rank == 1:
        monkeypatch.setenv("NO_CP2K", "1")
    sec = parse_config({"label": {"workdir": str(mpi_tmp_path / "work"), "cp2k": str(wrapper),
                                  "out": str(mpi_tmp_path / "labeled.h5")}}).label
    try:
        label_frames(ctx, sec, water_box(2, [0, 1]))
        message = "no error"
    except CP2KNotFoundError as exc:
        message = str(exc)
    host = __import__("socket").gethostname()
    parallel_assert(ctx, f"rank 1 (host {host})" in message and "rank 0 " not in message,
                    message)
    parallel_assert(ctx, not list((mpi_tmp_path / "work").glob("g*/*.npz")), "tasks ran")
