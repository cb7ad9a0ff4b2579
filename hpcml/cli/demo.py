"""Run the embedded default job: the whole concurrent-learning loop, small, on this machine.

A 27-molecule water box, initial data from perturbed copies labeled by CP2K
GFN1-xTB, a small 4-member DeepPot-SE ensemble, DPMD exploration at 300 and
400 K, candidates labeled by CP2K, three iterations, then the final ensemble
tested on explored frames it never saw, a report and a one-line verdict.
Run it as ``mpirun -n 2 hpcml demo`` (``make demo``) or serially; re-running
resumes.  ``hpcml run`` takes the same config (``inputs/demo.yaml``).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: the embedded hpcml/data/demo.yaml)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="run directory (default: run.workdir of the config)")
    parser.add_argument("--max-iterations", type=int, default=None,
                        help="iterations at most")
    parser.add_argument("--continue-changed", action="store_true",
                        help="continue a run directory made by a different config")
    parser.add_argument("--no-report", action="store_true", help="skip the plots")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the run's figures as the last line")


def embedded_config() -> Path:
    """Path of the embedded default config shipped with the package."""
    return Path(str(resources.files("hpcml") / "data" / "demo.yaml"))


def run(args: argparse.Namespace) -> int:
    """Run the loop on the demo config."""
    from hpcml.cli.run import run_loop, with_overrides
    from hpcml.config import load_config

    path = args.config or embedded_config()
    config = with_overrides(load_config(path), args)
    return run_loop(args, config, str(Path(path).resolve()), "hpcml demo")
