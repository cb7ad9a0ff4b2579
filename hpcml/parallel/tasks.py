"""Dynamic task dealing: a job-wide counter that ranks draw task numbers from.

Labeling tasks differ in cost (frame sizes, SCF retries), so dealing them
round-robin leaves ranks idle while others still work.  A :class:`TaskQueue`
hands out ``0, 1, ..., n - 1`` in the order ranks ask, with one MPI one-sided
atomic fetch-and-add on a counter held by rank 0 per task: no rank has to
serve requests, and a rank that finishes early simply takes the next task.
On one process (or a :class:`~hpcml.parallel.serial.SerialComm`) it is a plain
counter.  Safe to call from several threads of one rank.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpcml.parallel.context import Context


class TaskQueue:
    """Hands out task numbers ``0 .. n_tasks - 1``, each exactly once over all ranks.

    Collective to create and to :meth:`close` (use it as a context manager).

    Examples
    --------
    >>> from hpcml.parallel import Context
    >>> with TaskQueue(Context.create(serial=True), 2) as q:
    ...     [q.next(), q.next(), q.next()]
    [0, 1, None]
    """

    def __init__(self, ctx: Context, n_tasks: int):
        self.ctx, self.n_tasks = ctx, int(n_tasks)
        self._lock = threading.Lock()
        self._local = 0
        self._win = None
        if ctx.has_mpi and ctx.size > 1:
            from mpi4py import MPI

            self._mpi = MPI
            size = MPI.INT64_T.Get_size() if ctx.is_root else 0
            self._win = MPI.Win.Allocate(size, MPI.INT64_T.Get_size(), comm=ctx.comm)
            if ctx.is_root:
                self._win.Lock(0, MPI.LOCK_EXCLUSIVE)
                self._win.Put(np.zeros(1, np.int64), 0)
                self._win.Unlock(0)
            ctx.comm.Barrier()
            self._one = np.ones(1, np.int64)
            self._got = np.zeros(1, np.int64)

    def next(self) -> int | None:
        """The next task number, or None when all were handed out."""
        with self._lock:
            if self._win is None:
                task, self._local = self._local, self._local + 1
            else:
                mpi = self._mpi
                self._win.Lock(0, mpi.LOCK_SHARED)
                self._win.Fetch_and_op(self._one, self._got, 0, 0, mpi.SUM)
                self._win.Unlock(0)
                task = int(self._got[0])
        return task if task < self.n_tasks else None

    def close(self) -> None:
        """Free the counter (collective)."""
        if self._win is not None:
            self._win.Free()
            self._win = None

    def __enter__(self) -> TaskQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
