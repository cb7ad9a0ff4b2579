"""Job for test_abort.py: rank 1 raises while rank 0 waits in a barrier."""

import sys
import time

from hpcml.errors import DataError
from hpcml.parallel import Context, abort_on_error

ctx = Context.create()
with abort_on_error(ctx):
    if ctx.rank == 1:
        time.sleep(0.5)
        if sys.argv[1:] == ["user"]:
            raise DataError("frames.h5: key 'coord' missing; rewrite the file")
        raise ValueError("boom on rank 1")
    ctx.comm.barrier()  # would hang forever without the abort
