"""Run a step on each rank and raise on every rank if it failed on any.

A rank that raises alone would leave the others waiting in the next
collective; :func:`collective_call` turns an error on one rank into an error
on all of them, with the same exception type where it can be rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hpcml.parallel import Context

T = TypeVar("T")


def _remote_error(rank: int, exc_type: type, text: str) -> Exception:
    """Build an exception of ``exc_type`` saying it was raised on ``rank``."""
    message = f"on rank {rank}: {text}"
    try:
        return exc_type(message)
    except Exception:  # noqa: BLE001 (exception types with odd signatures)
        return RuntimeError(f"{exc_type.__name__} {message}")


def collective_call(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` on this rank; if any rank raised, raise on all.

    Collective over ``ctx.comm``.  The failing rank re-raises its own
    exception; the others raise one of the same type naming the first
    failing rank.
    """
    try:
        result, error = fn(*args), None
    except Exception as exc:  # noqa: BLE001 (re-raised below, on every rank)
        result, error = None, exc
    if ctx.size > 1:
        reports = ctx.comm.allgather(None if error is None else (type(error), str(error)))
        failed = [(rank, rep) for rank, rep in enumerate(reports) if rep is not None]
        if failed and error is None:
            rank, (exc_type, text) = failed[0]
            raise _remote_error(rank, exc_type, text)
    if error is not None:
        raise error
    return result
