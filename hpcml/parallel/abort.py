"""Clean abort of the whole job when one rank raises.

An exception on one rank would leave the other ranks blocked in their next
collective until the allocation runs out.  :func:`abort_on_error` reports the
failing rank's traceback and calls ``MPI_Abort``, which makes ``mpirun`` end
every rank and exit non-zero.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hpcml.errors import UserError, missing_dependency

if TYPE_CHECKING:
    from hpcml.parallel.context import Context

#: exit status of a job stopped by bad input (as the CLI's)
USER_ERROR_CODE = 2


@contextmanager
def abort_on_error(ctx: Context, exit_code: int = 1) -> Iterator[None]:
    """Run a block; on an exception in any one rank, abort all ranks.

    On one rank the exception propagates unchanged.  On several, the failing
    rank writes ``[hpcml rank r/n] ...`` and its traceback (only the message
    for a :class:`~hpcml.errors.UserError`, aborting with status 2) to stderr
    and calls ``comm.Abort(exit_code)``.

    Parameters
    ----------
    ctx
        Context of the job.
    exit_code
        Error code passed to ``MPI_Abort``.
    """
    try:
        yield
    except SystemExit as exc:
        if ctx.size == 1 or exc.code in (0, None):
            raise
        _report(ctx, f"exited with status {exc.code}")
        ctx.comm.Abort(exc.code if isinstance(exc.code, int) else exit_code)
    except BaseException as exc:
        if ctx.size == 1:
            raise
        exc = missing_dependency(exc) or exc      # a missing optional module: bad input
        if isinstance(exc, UserError):
            _report(ctx, f"error: {exc}")
            ctx.comm.Abort(USER_ERROR_CODE)
        if isinstance(exc, MemoryError):
            _report(ctx, "error: out of memory on this rank; make the problem smaller or "
                    "spread it over more ranks or nodes")
            ctx.comm.Abort(USER_ERROR_CODE)
        _report(ctx, "unhandled exception; aborting all ranks\n" + traceback.format_exc())
        ctx.comm.Abort(exit_code)


def _report(ctx: Context, text: str) -> None:
    """Write ``text`` to stderr, stamped with rank/size, and flush."""
    sys.stdout.flush()
    sys.stderr.write(f"[hpcml rank {ctx.rank}/{ctx.size}] {text.rstrip()}\n")
    sys.stderr.flush()
