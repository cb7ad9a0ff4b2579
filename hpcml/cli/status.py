"""Show where a run stands: iteration, stage, accurate/candidate/failed %, time per stage.

Reads only the run directory's journal, so it works while the job runs.
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the status options."""
    parser.add_argument("workdir", type=pathname, help="run directory (run.workdir of the config)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the status table (or JSON)."""
    from hpcml.workflow.status import collect, format_status

    info = collect(args.workdir)
    print(json.dumps(info) if args.json else format_status(info))
    return 0
