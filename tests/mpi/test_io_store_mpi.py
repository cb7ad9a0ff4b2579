"""Parallel appends to the frame store (run under mpirun -n 2 and -n 4).

Frames of different sizes per rank (some ranks with none) are appended with
the ``mpio`` and ``gather`` writers; the file must equal, dataset by dataset
and attribute by attribute, the same frames appended serially by rank 0.
"""

import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.io.frames import Frames
from hpcml.io.hdf5._h5 import load_h5py
from hpcml.io.store import (
    append_frames,
    create_store,
    read_frames,
    resolve_writer,
    store_info,
    write_frames,
)
from hpcml.io.synthetic import synthetic_frames
from hpcml.parallel import parallel_assert

h5py = load_h5py(prefer_mpi=True)  # imports mpi4py.MPI before h5py's MPI build
KEYSET = ("energy", "force", "virial", "iteration", "deviation", "frame_id")
# frames per rank (rank % 4) in each of three appends; 0 = a rank with nothing
BATCHES = ([3, 0, 5, 2], [0, 4, 1, 0], [0, 0, 0, 0], [1, 2, 0, 7])
WRITERS = ["mpio", "gather", "auto"]


def _batch(ctx, b, start):
    """(this rank's frames, all frames of batch ``b``) for frames from ``start``."""
    counts = [BATCHES[b][r % 4] for r in range(ctx.size)]
    lo = start + sum(counts[: ctx.rank])
    everyone = synthetic_frames(range(start, start + sum(counts)), keys=KEYSET)
    return synthetic_frames(range(lo, lo + counts[ctx.rank]), keys=KEYSET), everyone


def _contents(path):
    """Root attributes and every dataset (data and attributes) of an HDF5 file."""
    with h5py.File(path, "r") as f:
        data = {name: (f[name][()], dict(f[name].attrs)) for name in f}
        return dict(f.attrs), data


def _same_attrs(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _compare_files(ctx, parallel, serial):
    (root_p, data_p), (root_s, data_s) = _contents(parallel), _contents(serial)
    parallel_assert(ctx, _same_attrs(root_p, root_s), f"root attrs {root_p} != {root_s}")
    parallel_assert(ctx, data_p.keys() == data_s.keys(), f"{data_p.keys()}")
    for name, (arr, attrs) in data_s.items():
        got, got_attrs = data_p[name]
        parallel_assert(ctx, got.shape == arr.shape and np.array_equal(got, arr),
                        f"dataset {name!r} differs ({got.shape} vs {arr.shape})")
        parallel_assert(ctx, _same_attrs(got_attrs, attrs), f"attrs of {name!r}")


def _skip_without_mpio(ctx, writer):
    if resolve_writer(ctx, writer) == "mpio" and not h5py.get_config().mpi:
        pytest.skip("h5py has no MPI support")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("writer", WRITERS)
def test_parallel_appends_equal_serial_appends(ctx, mpi_tmp_path, writer):
    _skip_without_mpio(ctx, writer)
    par, ser = mpi_tmp_path / "par.h5", mpi_tmp_path / "ser.h5"
    create_store(par, ["O", "H"], KEYSET, ctx=ctx)
    if ctx.is_root:
        create_store(ser, ["O", "H"], KEYSET)
    n = 0
    for b in range(len(BATCHES)):
        mine, everyone = _batch(ctx, b, n)
        got = append_frames(par, mine, ctx=ctx, writer=writer)
        if ctx.is_root:
            append_frames(ser, everyone, writer="serial")
        n += everyone.n_frames
        parallel_assert(ctx, got == n, f"append returned {got}, expected {n}")
    ctx.comm.barrier()
    _compare_files(ctx, par, ser)
    diff = read_frames(par).difference(synthetic_frames(n, keys=KEYSET))
    parallel_assert(ctx, diff is None, f"read back: {diff}")


def test_auto_picks_mpio_under_mpirun(ctx):
    expected = "mpio" if h5py.get_config().mpi else "gather"
    parallel_assert(ctx, resolve_writer(ctx, "auto") == expected)


@pytest.mark.parametrize("writer", ["mpio", "gather"])
def test_type_maps_may_differ_per_rank(ctx, mpi_tmp_path, writer):
    _skip_without_mpio(ctx, writer)
    path = mpi_tmp_path / "tm.h5"
    create_store(path, ["O", "H"], KEYSET, ctx=ctx)
    mine, everyone = _batch(ctx, 0, 0)
    if ctx.rank % 2:
        mine = mine.with_type_map(["H", "C", "O"])
    append_frames(path, mine, ctx=ctx, writer=writer)
    diff = read_frames(path).difference(everyone)
    parallel_assert(ctx, diff is None, f"{diff}")


@pytest.mark.parametrize("writer", ["mpio", "gather"])
def test_bad_frames_on_one_rank_fail_on_every_rank(ctx, mpi_tmp_path, writer):
    _skip_without_mpio(ctx, writer)
    path = mpi_tmp_path / "bad.h5"
    create_store(path, ["O", "H"], KEYSET, ctx=ctx)
    append_frames(path, _batch(ctx, 0, 0)[0], ctx=ctx, writer=writer)
    before = store_info(path).n_committed
    frames = synthetic_frames([ctx.rank], keys=KEYSET)
    if ctx.rank == ctx.size - 1:
        frames = synthetic_frames([ctx.rank], keys=("energy",))
    with pytest.raises(ValueError, match="store holds keys") as info:
        append_frames(path, frames, ctx=ctx, writer=writer)
    bad = f"rank {ctx.size - 1}"
    parallel_assert(ctx, ctx.rank == ctx.size - 1 or bad in str(info.value),
                    f"message should name {bad}: {info.value}")
    after = store_info(path).n_committed
    parallel_assert(ctx, after == before, f"n_committed moved {before} -> {after}")


def test_serial_writer_refuses_several_ranks(ctx, mpi_tmp_path):
    path = mpi_tmp_path / "s.h5"
    create_store(path, ["O"], (), ctx=ctx)
    with pytest.raises(ValueError, match="runs on one rank"):
        append_frames(path, Frames.empty(["O"]), ctx=ctx, writer="serial")


def test_create_store_errors_reach_every_rank(ctx, mpi_tmp_path):
    path = mpi_tmp_path / "c.h5"
    info = create_store(path, ["O", "H"], ["energy"], ctx=ctx)
    parallel_assert(ctx, info.n_committed == 0 and info.type_map == ["O", "H"])
    with pytest.raises(DataError, match="already exists"):
        create_store(path, ["O", "H"], ["energy"], ctx=ctx)
    again = create_store(path, ["O", "H"], ["energy"], ctx=ctx, exist_ok=True)
    parallel_assert(ctx, again == info)


@pytest.mark.parametrize("writer", ["mpio", "gather"])
def test_write_frames_collective_equals_serial(ctx, mpi_tmp_path, writer):
    _skip_without_mpio(ctx, writer)
    par, ser = mpi_tmp_path / "wpar.h5", mpi_tmp_path / "wser.h5"
    mine, everyone = _batch(ctx, 3, 0)
    info = write_frames(par, mine, ctx=ctx, writer=writer)
    if ctx.is_root:
        write_frames(ser, everyone)
    ctx.comm.barrier()
    parallel_assert(ctx, info.n_committed == everyone.n_frames, f"{info}")
    parallel_assert(ctx, not (mpi_tmp_path / "wpar.h5.tmp").exists())
    _compare_files(ctx, par, ser)
