"""The job-wide task queue hands out every task exactly once, whatever the timing."""

import time

import numpy as np

from hpcml.parallel import TaskQueue, parallel_assert


def test_every_task_once(ctx):
    with TaskQueue(ctx, 50) as queue:
        mine = []
        while (k := queue.next()) is not None:
            mine.append(k)
            if ctx.rank == 0:
                time.sleep(0.002)          # a slow rank takes fewer tasks
        assert queue.next() is None
    every = sorted(k for part in ctx.comm.allgather(mine) for k in part)
    parallel_assert(ctx, every == list(range(50)), "tasks handed out twice or lost")
    counts = ctx.comm.allgather(len(mine))
    parallel_assert(ctx, ctx.size == 1 or counts[0] < max(counts), f"no balancing: {counts}")


def test_threads_of_one_rank_share_the_queue(ctx):
    from concurrent.futures import ThreadPoolExecutor

    with TaskQueue(ctx, 40) as queue:
        def drain():
            got = []
            while (k := queue.next()) is not None:
                got.append(k)
            return got

        with ThreadPoolExecutor(3) as pool:
            mine = [k for f in [pool.submit(drain) for _ in range(3)] for k in f.result()]
    every = np.sort(np.concatenate([np.array(p, int) for p in ctx.comm.allgather(mine)]))
    parallel_assert(ctx, np.array_equal(every, np.arange(40)), "threads lost or repeated tasks")


def test_empty_queue(ctx):
    with TaskQueue(ctx, 0) as queue:
        parallel_assert(ctx, queue.next() is None, "an empty queue handed out a task")
