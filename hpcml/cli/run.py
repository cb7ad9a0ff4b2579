"""Run (or resume) the concurrent-learning loop: train -> explore -> label, repeated.

``hpcml run CONFIG`` uses the ``data``/``loop.init`` (initial data),
``model``, ``train``, ``md`` (integrator, trust levels), ``label`` (CP2K) and
``loop`` (iterations, schedule, convergence) sections and writes everything
under ``run.workdir``.  Re-running the same command after a kill resumes at
the first unfinished stage; a run directory made by a different config is
refused unless ``--continue-changed`` is given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpcml.cli.common import add_config_argument, pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the loop's options (each overrides the config)."""
    add_config_argument(parser)
    add_loop_options(parser)


def add_loop_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``hpcml run`` and ``hpcml demo``."""
    parser.add_argument("--workdir", type=pathname, default=None, help="run directory "
                        "(default run.workdir)")
    parser.add_argument("--max-iterations", type=int, default=None,
                        help="iterations at most (may be raised to continue a finished run)")
    parser.add_argument("--continue-changed", action="store_true",
                        help="continue a run directory made by a different config")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the plots and summary at the end")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the run's figures as the last line")


def run_loop(args: argparse.Namespace, config, source: str, label: str) -> int:  # noqa: ANN001
    """Run the loop of ``config`` in a parallel job; rank 0 prints status and verdict."""
    from hpcml.cli.common import parallel_job
    from hpcml.cli.train import model_spec
    from hpcml.workflow.loop import Loop
    from hpcml.workflow.report import make_report
    from hpcml.workflow.status import collect, format_status, verdict

    with parallel_job(args, config) as ctx:
        loop = Loop(ctx, config, model_spec(config), workdir=args.workdir, source=source,
                    continue_changed=args.continue_changed)
        loop.run()
        if ctx.is_root:
            info = make_report(loop.dirs.root) if not args.no_report else collect(loop.dirs.root)
            print(format_status(info))
            if not args.no_report:
                print(f"{label}: report in {loop.dirs.report}/summary.md")
            print(f"{label}: {verdict(info)}")
            if args.json:
                keys = ("workdir", "converged", "explored_frames", "labeled_frames",
                        "labeled_fraction", "check", "stage_seconds", "init_labeled")
                accurate = [r["fractions"]["accurate"] for r in info["iterations"]
                            if "fractions" in r]
                print(json.dumps({k: info[k] for k in keys} | {"accurate": accurate}))
    return 0


def with_overrides(config, args: argparse.Namespace, source: str = "config"):  # noqa: ANN001, ANN201
    """``config`` with ``--workdir``/``--max-iterations`` applied (validated again)."""
    from hpcml.cli.overrides import apply_overrides

    return apply_overrides(config, source, {
        "--workdir": (("run", "workdir"), args.workdir),
        "--max-iterations": (("loop", "max_iterations"), args.max_iterations)})


def run(args: argparse.Namespace) -> int:
    """Load the config and run the loop."""
    from hpcml.config import load_config

    config = with_overrides(load_config(args.config), args, str(args.config))
    return run_loop(args, config, str(Path(args.config).resolve()), "hpcml run")
