"""DPMD exploration with a trained ensemble (``hpcml md CONFIG``).

Runs the walkers of the ``md`` section under ``mpirun -n N`` with spatial
domain decomposition, writes ``OUT/walker_<k>/{devi.out,traj.h5,pool.h5,
candidates.h5,checkpoint.npz}`` and ``OUT/candidates.h5`` (all walkers), and
prints ns/day and microseconds per atom per step.  Re-running continues from
the checkpoints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpcml.cli.common import add_config_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the MD options (each overrides the config)."""
    add_config_argument(parser)
    parser.add_argument("--model", type=Path, default=None, help="ensemble.pt (md.model)")
    parser.add_argument("--atoms", type=int, default=None,
                        help="replicate the start cell to this many atoms (e.g. 192, 1536)")
    parser.add_argument("--steps", type=int, default=None, help="MD steps per walker")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (us_per_atom_step, atoms, ranks, "
                        "candidates) as the last line")


def run(args: argparse.Namespace) -> int:
    """Load the ensemble and run the walkers."""
    from hpcml.cli.common import parallel_job
    from hpcml.config import load_config
    from hpcml.errors import ConfigError
    from hpcml.explore.forces import torch_threads
    from hpcml.explore.job import run_md
    from hpcml.molecular.committee import Committee

    config = load_config(args.config)
    cfg = config.md
    if args.steps is not None:
        cfg = cfg.model_copy(update={"steps": args.steps})
    model = args.model or cfg.model
    if model is None:
        raise ConfigError(f"{args.config}: md.model is not set; pass --model ensemble.pt")
    with parallel_job(args, config) as ctx:
        torch_threads(config.parallel.threads_per_rank)
        committee = Committee.load(model)
        summary = run_md(ctx, committee, cfg, atoms=args.atoms, out=args.out)
        if ctx.is_root:
            f = summary["fractions"]
            print(f"hpcml md: {summary['atoms']} atoms on {summary['ranks']} rank(s): "
                  f"{summary['ns_per_day']:.3f} ns/day, {summary['us_per_atom_step']:.1f} "
                  f"us/atom/step; {summary['frames_checked']} frames checked: accurate "
                  f"{100 * f['accurate']:.1f} %, candidate {100 * f['candidate']:.1f} %, "
                  f"failed {100 * f['failed']:.1f} %; {summary['candidates']} candidate(s)")
            if args.json:
                print(json.dumps({k: summary[k] for k in ("us_per_atom_step", "atoms", "ranks",
                                                          "candidates", "ns_per_day")}))
    return 0
