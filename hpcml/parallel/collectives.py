"""Collective helpers over a :class:`~hpcml.parallel.context.Context`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcml.parallel.context import Context


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
