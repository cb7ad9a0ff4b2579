"""Run the embedded default job on this machine.

Until the concurrent-learning loop exists (issue 7) the demo is an MPI smoke
job: every rank takes a share of the embedded water sample, the ranks append
it collectively to a parallel HDF5 frame store, rank 0 writes the same frames
serially, and the job checks that both files are identical.  Run it as
``mpirun -n 2 hpcml demo`` (``make demo``) or serially.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: the embedded hpcml/data/demo.yaml)")
    parser.add_argument("--output", type=Path, default=None,
                        help="output directory (default: demo.output of the config)")
    parser.add_argument("--frames-per-rank", type=int, default=None,
                        help="frames each rank writes per append (default from config)")


def embedded_config() -> Path:
    """Path of the embedded default config shipped with the package."""
    return Path(str(resources.files("hpcml") / "data" / "demo.yaml"))


def run(args: argparse.Namespace) -> int:
    """Load the config, run the smoke job, print the verdict on rank 0."""
    from hpcml.cli.common import parallel_job
    from hpcml.config import load_config
    from hpcml.workflow.smoke import run_smoke_job

    config = load_config(args.config or embedded_config())
    demo, data = config.demo, config.data
    with parallel_job(args, config) as ctx:
        report = run_smoke_job(
            ctx, system=data.systems[0], fmt=data.format, type_map=list(data.type_map),
            frames_per_rank=args.frames_per_rank or demo.frames_per_rank,
            repeats=demo.repeats, outdir=args.output or demo.output,
            writer=config.parallel.hdf5_writer,
        )
        if ctx.is_root:
            print(f"hpcml demo: {report.verdict()}")
            print("hpcml demo: the concurrent-learning loop (explore -> label -> train) "
                  "is not built yet (issue 7); this demo ran the MPI + parallel HDF5 smoke job.")
    return 0
