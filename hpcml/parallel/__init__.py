"""The only home of mpi4py, torch.distributed and Horovod in hpcml.

Build one :class:`Context` in the driver (the CLI) and pass it down; nothing
below the driver touches ``MPI.COMM_WORLD``.
"""

from hpcml.parallel.abort import abort_on_error
from hpcml.parallel.collectives import (
    ParallelAssertionError,
    allreduce_max,
    collective_call,
    parallel_assert,
    root_call,
    slab_offsets,
)
from hpcml.parallel.context import Context, SerialComm, under_mpi_launcher
from hpcml.parallel.log import setup_logging
from hpcml.parallel.tasks import TaskQueue

__all__ = [
    "Context",
    "ParallelAssertionError",
    "SerialComm",
    "TaskQueue",
    "abort_on_error",
    "allreduce_max",
    "collective_call",
    "parallel_assert",
    "root_call",
    "setup_logging",
    "slab_offsets",
    "under_mpi_launcher",
]
