"""Collective helpers over a :class:`~hpcml.parallel.context.Context`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from hpcml.parallel.context import Context

T = TypeVar("T")


class ParallelAssertionError(AssertionError):
    """A collective assertion that failed on at least one rank."""


def parallel_assert(ctx: Context, condition: bool, msg: str = "") -> None:
    """Assert ``condition`` collectively: raise on every rank if any rank fails.

    A rank-local ``assert`` that fails on one rank leaves the others waiting
    in the next collective; this one never hangs.  Must be called by every
    rank of ``ctx.comm``.

    Parameters
    ----------
    ctx
        Context whose ranks all call this function.
    condition
        The rank-local truth value.
    msg
        Rank-local explanation, reported for each failing rank.

    Raises
    ------
    ParallelAssertionError
        On every rank, naming the failing ranks and their messages.
    """
    results = ctx.comm.allgather((bool(condition), str(msg)))
    failed = [(r, m) for r, (ok, m) in enumerate(results) if not ok]
    if failed:
        detail = "; ".join(f"rank {r}: {m or 'assertion failed'}" for r, m in failed)
        raise ParallelAssertionError(
            f"failed on {len(failed)} of {ctx.size} rank(s): {detail}"
        )


def slab_offsets(ctx: Context, n_local: int) -> tuple[int, int]:
    """Offset of this rank's slab and the global count, for ``n_local`` items per rank.

    Slabs are laid out in rank order.  Collective over ``ctx.comm``.

    Returns
    -------
    tuple of int
        ``(offset, total)``.
    """
    counts = ctx.comm.allgather(int(n_local))
    return sum(counts[: ctx.rank]), sum(counts)


def allreduce_max(ctx: Context, value: float) -> float:
    """Largest ``value`` over the ranks (e.g. the wall time of a collective step).

    Collective over ``ctx.comm``; works for MPI and serial communicators alike.
    """
    return max(ctx.comm.allgather(value))


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


def root_call(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on rank 0 only; its result on every rank.

    Collective over ``ctx.comm``.  An exception on rank 0 is raised on every
    rank (see :func:`collective_call`); the result is broadcast.
    """
    result = collective_call(ctx, fn if ctx.is_root else lambda *_: None, *args)
    return ctx.comm.bcast(result, root=0)
