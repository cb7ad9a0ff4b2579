"""hpcml md on N ranks gives the 1-rank trajectory (mpirun -n 2 and -n 4)."""

import numpy as np
import pytest

from hpcml.config.md import MdSection
from hpcml.explore.job import run_md
from hpcml.io.store import read_frames
from hpcml.parallel import Context, parallel_assert
from hpcml.testing.data import embedded_water
from hpcml.testing.models import small_committee

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def section(out, **kw):
    base = dict(structure=embedded_water(), dt=0.5, steps=30, skin=1.0, model_devi_freq=5,
                trust_lo=0.0, trust_hi=10.0, traj_freq=10, checkpoint_freq=15, out=out)
    base.update(kw)
    return MdSection(**base)


@pytest.mark.parametrize("ensemble,thermostat", [("nve", "nhc"), ("nvt", "nhc"),
                                                 ("nvt", "langevin")])
def test_trajectory_independent_of_rank_count(ctx, mpi_tmp_path, ensemble, thermostat):
    comm = small_committee()
    kw = dict(ensemble=ensemble, thermostat=thermostat, tau_t=50.0)
    par = run_md(ctx, comm, section(mpi_tmp_path / "par", **kw))
    ser = run_md(Context.create(serial=True), comm,
                 section(mpi_tmp_path / f"ser{ctx.rank}", **kw))
    a = read_frames(mpi_tmp_path / "par" / "walker_0" / "traj.h5")
    b = read_frames(mpi_tmp_path / f"ser{ctx.rank}" / "walker_0" / "traj.h5")
    box = np.diag(b["cell"][0])
    d = a["coord"] - b["coord"]
    err = float(np.abs(d - box * np.round(d / box)).max())
    parallel_assert(ctx, err < 1e-8, f"positions differ by {err} A")
    devi_a = np.loadtxt(mpi_tmp_path / "par" / "walker_0" / "devi.out")
    devi_b = np.loadtxt(mpi_tmp_path / f"ser{ctx.rank}" / "walker_0" / "devi.out")
    parallel_assert(ctx, np.allclose(devi_a, devi_b, rtol=1e-7, atol=1e-10), "devi.out differs")
    parallel_assert(ctx, par["candidates"] == ser["candidates"] == 7, str(par["candidates"]))
    parallel_assert(ctx, par["ranks"] == ctx.size)


def test_walkers_split_the_ranks(ctx, mpi_tmp_path):
    comm = small_committee()
    walkers = [{"temperature": 300.0}, {"temperature": 400.0}]
    summary = run_md(ctx, comm, section(mpi_tmp_path / "w", steps=10, walkers=walkers))
    parallel_assert(ctx, [w["walker"] for w in summary["walkers"]] == [0, 1])
    parallel_assert(ctx, summary["candidates"] == 6, str(summary["candidates"]))
    systems = read_frames(mpi_tmp_path / "w" / "candidates.h5")["system"].tolist()
    parallel_assert(ctx, systems == [0, 0, 0, 1, 1, 1], str(systems))
