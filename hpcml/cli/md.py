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

from hpcml.cli.common import add_config_argument, count, pathname
from hpcml.cli.outputs import add_output_options

#: what ``hpcml md`` writes in its output directory (deleted by --force)
OUTPUTS = ("walker_*", "candidates.h5", "summary.json")
#: inputs that a continued run cannot change (the checkpoints hold another system)
FIXED = ("atoms", "replicate", "structure", "frame")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the MD options (each overrides the config)."""
    add_config_argument(parser)
    parser.add_argument("--model", type=pathname, default=None, help="ensemble.pt (md.model)")
    parser.add_argument("--atoms", type=count, default=None,
                        help="replicate the start cell to this many atoms (e.g. 192, 1536)")
    parser.add_argument("--steps", type=int, default=None, help="MD steps per walker")
    parser.add_argument("--out", type=pathname, default=None, help="output directory")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (us_per_atom_step, atoms, ranks, "
                        "candidates) as the last line")
    add_output_options(parser)


def md_inputs(cfg, atoms: int | None) -> dict:  # noqa: ANN001
    """What determines the results of ``hpcml md`` (recorded in ``OUT/inputs.json``)."""
    from hpcml.cli.outputs import file_hash
    from hpcml.workflow.rundir import real_paths

    data = real_paths(cfg.model_dump(mode="json", exclude={"out", "model"}))
    data["model_sha256"] = file_hash(cfg.model)
    data["atoms"] = atoms
    return data


def _claim(cfg, args: argparse.Namespace) -> str:  # noqa: ANN001
    """Rank 0: record or check the inputs in the output directory."""
    from hpcml.cli.outputs import claim_output_dir

    return claim_output_dir(cfg.out, md_inputs(cfg, args.atoms), "hpcml md", force=args.force,
                            continue_changed=args.continue_changed, outputs=OUTPUTS,
                            fixed=FIXED)


def checked_config(args: argparse.Namespace):  # noqa: ANN201
    """The config with ``--model``/``--steps``/``--out`` applied and ``--atoms`` checked."""
    from hpcml.cli.overrides import apply_overrides
    from hpcml.config import load_config
    from hpcml.errors import ConfigError

    if args.atoms is not None and args.atoms < 1:
        raise ConfigError(f"--atoms {args.atoms}: must be a positive number of atoms (a "
                          "multiple of the start cell's, e.g. 192 or 1536)")
    config = apply_overrides(load_config(args.config), str(args.config), {
        "--model": (("md", "model"), args.model), "--steps": (("md", "steps"), args.steps),
        "--out": (("md", "out"), args.out)})
    if config.md.model is None:
        raise ConfigError(f"{args.config}: md.model is not set; pass --model ensemble.pt")
    return config


def run(args: argparse.Namespace) -> int:
    """Load the ensemble and run the walkers."""
    from hpcml.cli.common import parallel_job
    from hpcml.explore.forces import torch_threads
    from hpcml.explore.job import check_md_memory, run_md, walker_structure
    from hpcml.molecular.committee import Committee
    from hpcml.parallel import root_call
    from hpcml.parallel.threads import rank_threads

    config = checked_config(args)
    cfg = config.md
    with parallel_job(args, config) as ctx:
        torch_threads(rank_threads())   # OMP_NUM_THREADS, else threads_per_rank
        committee = Committee.load(cfg.model)
        check_md_memory(ctx, cfg, committee, args.atoms)   # before replicating the cells
        for k in range(len(cfg.walkers)):   # bad structures or --atoms before the record
            walker_structure(cfg, k, committee.type_map, args.atoms)
        root_call(ctx, _claim, cfg, args)
        summary = run_md(ctx, committee, cfg, atoms=args.atoms, out=cfg.out)
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
