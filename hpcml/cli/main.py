"""``hpcml``: one command whose subcommands mirror the pipeline.

Each built subcommand is a module ``hpcml.cli.<name>`` with
``add_arguments(parser)`` and ``run(args) -> int``; its heavy imports happen
inside ``run``.  Subcommands whose capability is not built yet are listed in
:data:`PENDING`: they accept their documented arguments, say which issue
builds them and exit with status 3.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from hpcml import __version__

#: name -> (module under hpcml.cli, one-line help)
BUILT = {
    "demo": ("demo", "embedded default: the whole loop, small, on this machine"),
    "config": ("config", "validate a config / print its JSON schema or docs"),
    "train": ("train", "train a Deep Potential ensemble"),
    "md": ("md", "DPMD exploration with an ensemble: deviation, candidates"),
    "test": ("test", "energy/force/virial errors of a model on labeled data, as dp test"),
    "export": ("export", "write ensemble members as DeePMD-kit .dp model files"),
    "import": ("import_model", "read DeePMD-kit se_e2_a .dp models into an ensemble"),
    "convert": ("convert", "convert labeled frames: deepmd/npy, deepmd/hdf5, HDF5 store, extxyz"),
    "label": ("label", "label a candidate file with CP2K"),
    "run": ("run", "concurrent-learning loop; re-running resumes"),
    "status": ("status", "iteration, stage, accurate/candidate/failed %%"),
    "report": ("report", "plots (PNG) + summary of a run"),
    "kinetic": ("kinetic", "PETSc kinetic solve (BGK / Boltzmann)"),
    "moments": ("moments", "ML moment method: solve (built), train, run"),
}

#: name -> (issue that builds it, one-line help, positional arguments)
PENDING: dict[str, tuple[int, str, list[str]]] = {}

EXIT_USER_ERROR = 2
EXIT_NOT_BUILT = 3

#: the message for a MemoryError (a problem too large for this machine's memory)
OUT_OF_MEMORY = ("out of memory: the problem does not fit in this process's memory; make it "
                 "smaller (--atoms, --nx, --nv, batch or model sizes) or spread it over more "
                 "ranks or nodes")

log = logging.getLogger("hpcml.cli")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="hpcml",
        description="MPI-parallel concurrent learning (explore -> label -> train).",
    )
    parser.add_argument("--version", action="version", version=f"hpcml {__version__}")
    parser.add_argument(
        "--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on rank 0 (other ranks log warnings); default from config or INFO",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in BUILT.items():
        module = importlib.import_module(f"hpcml.cli.{module_name}")
        cmd = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    for name, (issue, help_text, positionals) in PENDING.items():
        cmd = sub.add_parser(name, help=f"{help_text} [not built yet]")
        for pos in positionals:
            cmd.add_argument(pos, nargs="?")
        cmd.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        cmd.set_defaults(_run=_not_built(name, issue, help_text))
    return parser


def _not_built(name: str, issue: int, help_text: str):  # noqa: ANN202
    """Return a ``run`` for a subcommand that does not exist yet."""

    def run(args: argparse.Namespace) -> int:
        from hpcml.errors import NotBuiltError

        raise NotBuiltError(
            f"`hpcml {name}` ({help_text}) is not built yet; it is tracked in "
            f"issue {issue}. Nothing was run."
        )

    return run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; return the exit status.

    Exit status: 0 success, 2 bad input (config, data, missing program),
    3 subcommand not built yet, 1 any other failure.  Under ``mpirun`` an
    exception on one rank aborts all ranks (see
    :func:`hpcml.parallel.abort_on_error`).
    """
    from hpcml.errors import NotBuiltError, UserError, missing_dependency

    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ModuleNotFoundError as exc:
        missing = missing_dependency(exc, f"hpcml {args.command}")
        if missing is None:
            raise
        _error(str(missing))
        return EXIT_USER_ERROR
    except NotBuiltError as exc:
        _error(str(exc))
        return EXIT_NOT_BUILT
    except UserError as exc:
        _error(str(exc))
        return EXIT_USER_ERROR
    except MemoryError:
        _error(OUT_OF_MEMORY)
        return EXIT_USER_ERROR


def _error(text: str) -> None:
    """Report a user-facing error on stderr (the CLI is the user interface)."""
    sys.stderr.write(f"hpcml: error: {text}\n")
