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
