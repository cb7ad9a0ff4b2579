"""Write PNG plots and a Markdown summary of a run, and print the one-line verdict.

Plots: deviation histograms with the trust levels, accurate fraction per
iteration, learning curves, labeled-set growth, time per stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the report options."""
    parser.add_argument("workdir", type=Path, help="run directory (run.workdir of the config)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory of the plots and summary.md (default WORKDIR/report)")


def run(args: argparse.Namespace) -> int:
    """Write the report; print where it went and the verdict."""
    from hpcml.workflow.report import make_report

    info = make_report(args.workdir, args.out)
    print(f"hpcml report: wrote {len(info['files'])} file(s) to "
          f"{args.out or Path(args.workdir) / 'report'}")
    print(f"hpcml report: {info['verdict']}")
    return 0
