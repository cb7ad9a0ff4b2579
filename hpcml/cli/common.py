"""Shared start-up for the subcommands that run a parallel job."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcml.config.model import HpcmlConfig
    from hpcml.parallel import Context


def add_config_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add the positional CONFIG argument (YAML or JSON)."""
    parser.add_argument(
        "config", nargs=None if required else "?", default=None, type=pathname,
        help="configuration file (YAML or JSON); see `hpcml config docs`",
    )


def nonempty(text: str) -> str:
    """A word that is not empty (an argparse type), e.g. a path kept as text.

    ``""`` is what ``--out "$OUT"`` gives with ``OUT`` unset; as a path it
    would be the current directory, written to (or read) without a word.

    >>> nonempty("a.h5#/sys")
    'a.h5#/sys'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?); give a "
                                         "file or directory name")
    return text


def pathname(text: str) -> Path:
    """A file or directory name (an argparse type): not empty (:func:`nonempty`).

    >>> pathname("out")
    PosixPath('out')
    """
    return Path(nonempty(text))


def count(text: str) -> int:
    """A whole number given as ``1000000`` or ``1e6`` (an argparse type).

    Range checks are the config's (``--nx 0`` reaches them and is named there).

    >>> count("1e6"), count("-3")
    (1000000, -3)
    """
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


@contextmanager
def parallel_job(args: argparse.Namespace, config: HpcmlConfig) -> Iterator[Context]:
    """Build the job's Context, set threads and logging, abort all ranks on error.

    The one place where a subcommand's communicator is created (STYLE rule 3).
    Threads follow :mod:`hpcml.parallel.threads` (``OMP_NUM_THREADS`` in the
    environment, else ``parallel.threads_per_rank``), set before numpy's BLAS
    or torch start; device and HDF5 writer come from the ``parallel`` section.
    """
    from hpcml.parallel import Context, abort_on_error, setup_logging
    from hpcml.parallel.threads import apply_threads, conflict, oversubscription, resolve_threads

    par = config.parallel
    threads = resolve_threads(par.threads_per_rank)
    apply_threads(threads)
    ctx = Context.create(device=par.device, hdf5_writer=par.hdf5_writer)
    with abort_on_error(ctx):
        level = args.log_level or config.run.log_level
        logdir = config.run.workdir / "logs" if config.run.log_per_rank else None
        setup_logging(ctx, level=level, logdir=logdir)
        given = par.threads_per_rank if "threads_per_rank" in par.model_fields_set else None
        for note in (conflict(given, threads), oversubscription(threads.n, ctx.local_size)):
            if note and ctx.is_root:
                logging.getLogger("hpcml.parallel").warning("%s", note)
        yield ctx


def plain_context() -> Context:
    """The Context of a subcommand without a config (test, export, import, convert).

    Threads as :func:`parallel_job` sets them, with 1 in place of
    ``parallel.threads_per_rank`` (:mod:`hpcml.parallel.threads`).
    """
    from hpcml.parallel import Context
    from hpcml.parallel.threads import apply_threads, resolve_threads

    apply_threads(resolve_threads(1))
    return Context.create()
