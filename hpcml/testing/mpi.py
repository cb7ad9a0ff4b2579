"""Helpers for tests that run under ``mpirun -n N python -m pytest``.

Every rank runs the same tests; rank-local checks go through
:func:`hpcml.parallel.parallel_assert` so that one failing rank cannot hang
the job, and temporary directories are made on rank 0 and shared.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpcml.parallel import Context


@contextmanager
def shared_tmp_path(ctx: Context, prefix: str = "hpcml-mpi-") -> Iterator[Path]:
    """Yield one temporary directory shared by all ranks of ``ctx``; removed at exit.

    Collective: every rank must enter and leave together.
    """
    path = tempfile.mkdtemp(prefix=prefix) if ctx.is_root else None
    path = Path(ctx.comm.bcast(path, root=0))
    try:
        yield path
    finally:
        ctx.comm.barrier()
        if ctx.is_root:
            shutil.rmtree(path, ignore_errors=True)
