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

from hpcml.cli.common import pathname
from hpcml.cli.run import add_loop_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--config", type=pathname, default=None,
                        help="config file (default: the embedded hpcml/data/demo.yaml)")
    add_loop_options(parser)


def embedded_config() -> Path:
    """Path of the embedded default config shipped with the package."""
    return Path(str(resources.files("hpcml") / "data" / "demo.yaml"))


def run(args: argparse.Namespace) -> int:
    """Run the loop on the demo config."""
    from hpcml.cli.run import run_loop, with_overrides
    from hpcml.config import load_config

    path = args.config or embedded_config()
    config = with_overrides(load_config(path), args, str(path))
    return run_loop(args, config, str(Path(path).resolve()), "hpcml demo")
