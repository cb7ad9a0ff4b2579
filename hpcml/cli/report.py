"""Write PNG plots and a Markdown summary of a run, and print the one-line verdict.

Plots: deviation histograms with the trust levels, accurate fraction per
iteration, learning curves, labeled-set growth, time per stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the report options."""
    parser.add_argument("workdir", type=pathname, help="run directory (run.workdir of the config)")
    parser.add_argument("--out", type=pathname, default=None,
                        help="directory of the plots and summary.md (default WORKDIR/report)")


def run(args: argparse.Namespace) -> int:
    """Write the report; print where it went and the verdict."""
    from hpcml.errors import ConfigError
    from hpcml.workflow.report import make_report

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out}: is a file, not a directory; the report is a "
                          "directory of plots and summary.md: give a new or existing directory")
    info = make_report(args.workdir, args.out)
    print(f"hpcml report: wrote {len(info['files'])} file(s) to "
          f"{args.out or Path(args.workdir) / 'report'}")
    print(f"hpcml report: {info['verdict']}")
    return 0
