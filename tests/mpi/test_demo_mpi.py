"""The demo's smoke job on N ranks: the parallel file equals the serial one."""

import pytest

from hpcml.cli.demo import embedded_config
from hpcml.config import load_config
from hpcml.io.store import read_frames
from hpcml.parallel import parallel_assert
from hpcml.workflow.smoke import run_smoke_job


@pytest.mark.parametrize("writer", ["mpio", "gather"])
def test_smoke_job(ctx, mpi_tmp_path, writer):
    data = load_config(embedded_config()).data
    report = run_smoke_job(ctx, data.systems[0], data.format, data.type_map,
                           frames_per_rank=3 + ctx.rank, repeats=2, outdir=mpi_tmp_path,
                           writer=writer)
    per_repeat = sum(3 + r for r in range(ctx.size))
    parallel_assert(ctx, report.frames == 2 * per_repeat, f"{report.frames}")
    parallel_assert(ctx, report.writer == writer and report.ranks == ctx.size)
    frames = read_frames(mpi_tmp_path / "frames.h5")
    parallel_assert(ctx, sorted(frames["frame_id"][:per_repeat]) == list(range(per_repeat)))
    parallel_assert(ctx, report.max_net_force < 1.0, f"net force {report.max_net_force}")
