"""A one-process stand-in for an mpi4py communicator.

Used when mpi4py is not installed or when a serial run is forced
(``HPCML_NO_MPI=1``).  It implements the subset of the mpi4py API that hpcml
uses, with the semantics of a communicator of size 1, so every parallel code
path also runs without MPI.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


class SerialComm:
    """Communicator of one process with mpi4py's method names.

    Examples
    --------
    >>> comm = SerialComm()
    >>> comm.allgather(3), comm.allreduce(2), comm.bcast("x")
    ([3], 2, 'x')
    """

    rank = 0
    size = 1

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py name)
        """Return 0."""
        return 0

    def Get_size(self) -> int:  # noqa: N802
        """Return 1."""
        return 1

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """Return ``obj``."""
        return obj

    def allreduce(self, obj: Any, op: Any = None) -> Any:
        """Return ``obj`` (the reduction over one process)."""
        return obj

    def reduce(self, obj: Any, op: Any = None, root: int = 0) -> Any:
        """Return ``obj``."""
        return obj

    def allgather(self, obj: Any) -> list:
        """Return ``[obj]``."""
        return [obj]

    def gather(self, obj: Any, root: int = 0) -> list:
        """Return ``[obj]``."""
        return [obj]

    def scatter(self, objs: Any, root: int = 0) -> Any:
        """Return the only element of ``objs``."""
        (obj,) = objs
        return obj

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = None) -> None:  # noqa: N802
        """Copy ``sendbuf`` into ``recvbuf`` (``IN_PLACE`` is not supported)."""
        np.copyto(np.asarray(recvbuf), np.asarray(sendbuf))

    def Bcast(self, buf: Any, root: int = 0) -> None:  # noqa: N802
        """Leave ``buf`` unchanged."""

    def barrier(self) -> None:
        """Return at once."""

    Barrier = barrier

    def Split(self, color: int = 0, key: int = 0) -> SerialComm:  # noqa: N802
        """Return a new serial communicator."""
        return SerialComm()

    def Free(self) -> None:  # noqa: N802
        """Nothing to free."""

    def Abort(self, errorcode: int = 1) -> None:  # noqa: N802
        """Exit the process with ``errorcode``."""
        sys.stderr.flush()
        raise SystemExit(errorcode)
