"""Context, collectives and logging on N ranks (run under mpirun -n 2 and -n 4)."""

import io
import logging

import numpy as np
import pytest

from hpcml.parallel import ParallelAssertionError, parallel_assert, setup_logging, slab_offsets


def test_world_layout(ctx):
    ranks = ctx.comm.allgather(ctx.rank)
    parallel_assert(ctx, ranks == list(range(ctx.size)), f"ranks {ranks}")
    parallel_assert(ctx, ctx.has_mpi and ctx.size >= 2, "expected an MPI run")
    parallel_assert(ctx, ctx.is_root == (ctx.rank == 0))


def test_node_layout_and_memory_check_are_collective(ctx):
    """local_size counts the ranks on this node (their memory is shared); the memory check
    raises on every rank when any rank's limit is too small."""
    import socket

    from hpcml.parallel.memory import Estimate, Limit, MemoryLimitError, check_memory

    hosts = ctx.comm.allgather(socket.gethostname())
    here = hosts.count(hosts[ctx.rank])
    parallel_assert(ctx, ctx.local_size == here and 0 <= ctx.local_rank < here,
                    f"local {ctx.local_rank}/{ctx.local_size}, {here} ranks on this host")
    parallel_assert(ctx, ctx.split(ctx.size).local_size == ctx.local_size)
    limit = Limit(1e3 if ctx.rank == ctx.size - 1 else 1e12, f"rank {ctx.rank}")
    with pytest.raises(MemoryLimitError, match=f"a rank may use 1000 B \\(rank {ctx.size - 1}\\)"):
        check_memory(ctx, Estimate({"x": 1e6}), "test", "fix", limit=limit)


def test_launcher_and_config_layout(ctx):
    """The launcher's variables agree with MPI (hpcml.parallel.launcher), and the config's
    parallel.hdf5_writer is what the stores' "auto" writer means on several ranks."""
    from hpcml.io.hdf5.writers import resolve_writer
    from hpcml.parallel import Context
    from hpcml.parallel.launcher import detect

    info = detect()
    parallel_assert(ctx, (info.rank, info.size) == (ctx.rank, ctx.size), f"{info}")
    parallel_assert(ctx, info.local_size in (None, ctx.local_size), f"{info}")
    gather = Context(comm=ctx.comm, has_mpi=True, hdf5_writer="gather")
    parallel_assert(ctx, resolve_writer(gather) == "gather")
    parallel_assert(ctx, resolve_writer(gather.split(1)) == "gather")
    parallel_assert(ctx, resolve_writer(gather, "mpio") == "mpio")   # an explicit name wins
    parallel_assert(ctx, resolve_writer(Context.create(serial=True, hdf5_writer="mpio")) ==
                    "serial")


@pytest.mark.parametrize("n_groups", [1, 2])
def test_split_contiguous_balanced_groups(ctx, n_groups):
    sub = ctx.split(n_groups)
    layout = ctx.comm.allgather((sub.group, sub.rank, sub.size))
    groups = [g for g, _, _ in layout]
    parallel_assert(ctx, groups == sorted(groups), f"groups not contiguous: {groups}")
    sizes = [groups.count(g) for g in range(n_groups)]
    parallel_assert(ctx, max(sizes) - min(sizes) <= 1, f"unbalanced {sizes}")
    parallel_assert(ctx, sub.size == sizes[sub.group])
    # the sub-communicator reduces within the group only
    total = sub.comm.allreduce(1)
    parallel_assert(ctx, total == sub.size, f"group sum {total} != {sub.size}")


def test_split_too_many_groups(ctx):
    with pytest.raises(ValueError, match="n_groups must be between 1 and"):
        ctx.split(ctx.size + 1)


def test_parallel_assert_fails_on_every_rank(ctx):
    bad = ctx.size - 1
    with pytest.raises(ParallelAssertionError) as info:
        parallel_assert(ctx, ctx.rank != bad, f"rank {ctx.rank} is bad")
    message = str(info.value)
    parallel_assert(ctx, f"rank {bad}: rank {bad} is bad" in message, message)
    parallel_assert(ctx, f"failed on 1 of {ctx.size}" in message, message)


def test_slab_offsets(ctx):
    n_local = ctx.rank + 1
    offset, total = slab_offsets(ctx, n_local)
    parallel_assert(ctx, offset == ctx.rank * (ctx.rank + 1) // 2, f"offset {offset}")
    parallel_assert(ctx, total == ctx.size * (ctx.size + 1) // 2, f"total {total}")


def test_allreduce_buffer(ctx):
    send = np.full(4, float(ctx.rank))
    recv = np.empty(4)
    ctx.comm.Allreduce(send, recv)
    expected = ctx.size * (ctx.size - 1) / 2
    parallel_assert(ctx, np.all(recv == expected), f"{recv}")


def test_logging_root_info_others_warning(ctx):
    stream = io.StringIO()
    setup_logging(ctx, level="INFO", stream=stream)
    logging.getLogger("hpcml.test").info("info line")
    logging.getLogger("hpcml.test").warning("warning line")
    text = stream.getvalue()
    parallel_assert(ctx, ("info line" in text) == ctx.is_root, text)
    parallel_assert(ctx, f"[{ctx.rank}/{ctx.size}] WARNING" in text, text)


def test_allreduce_max(ctx):
    from hpcml.parallel import allreduce_max

    got = allreduce_max(ctx, float(ctx.rank) * 1.5)
    parallel_assert(ctx, got == 1.5 * (ctx.size - 1), f"{got}")


def test_collective_call_raises_on_every_rank(ctx):
    from hpcml.parallel import collective_call

    def step(rank):
        if rank == ctx.size - 1:
            raise KeyError("missing on the last rank")
        return rank

    with pytest.raises(KeyError) as info:
        collective_call(ctx, step, ctx.rank)
    parallel_assert(ctx, "missing on the last rank" in str(info.value), str(info.value))
    parallel_assert(ctx, collective_call(ctx, lambda: ctx.rank * 2) == ctx.rank * 2)
