"""Write throughput of the frame store: mpio vs gather vs serial.

Run serially (serial writer only) or under MPI, e.g.::

    mpirun -n 2 python bench/bench_store.py

The water frames (data_0..data_2, 320 frames of 192 atoms) are replicated
``--replicas`` times and split over the ranks; each writer appends them all
to a fresh store, ``--batches`` appends in a row.  Figures are medians of
``--repeats`` runs, reported as ratios against the serial writer (rank 0
alone, same frames, same batches) measured in the same run.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from hpcml.io.deepmd import read_deepmd_npy
from hpcml.io.frames import Frames
from hpcml.io.store import append_frames, create_store, resolve_writer
from hpcml.parallel import Context
from hpcml.testing.data import water_dir

WATER = water_dir()


def water(replicas):
    base = Frames.concat([read_deepmd_npy(WATER / f"data_{i}") for i in range(3)])
    return Frames.concat([base] * replicas)


def payload_mb(frames):
    return (sum(a.nbytes for a in frames.arrays.values()) + 8 * frames.n_frames) / 1e6


def time_writer(ctx, path, frames, writer, batches, participate=True):
    """Seconds to append ``frames`` in ``batches`` appends (collective unless serial)."""
    comm = ctx.comm
    if ctx.is_root and os.path.exists(path):
        os.remove(path)
    if participate:
        create_store(path, frames.type_map, frames.keys, ctx=None if writer == "serial" else ctx)
    comm.barrier()
    start = time.perf_counter()
    if participate:
        for part in np.array_split(np.arange(frames.n_frames), batches):
            append_frames(path, frames.select(part), ctx=None if writer == "serial" else ctx,
                          writer=writer)
    comm.barrier()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ctx = Context.create()
    frames = water(args.replicas)
    share = np.array_split(np.arange(frames.n_frames), ctx.size)[ctx.rank]
    local = frames.select(share)
    tmp = ctx.comm.bcast(tempfile.mkdtemp(prefix="bench-store-") if ctx.is_root else None)
    path = os.path.join(tmp, "bench.h5")
    writers = ["serial"] + (["gather", "mpio"] if ctx.size > 1 else [])
    if "mpio" in writers and resolve_writer(ctx) != "mpio":
        writers.remove("mpio")
    times = {w: [] for w in writers}
    for _ in range(args.repeats):
        for w in writers:
            data = frames if w == "serial" else local
            times[w].append(time_writer(ctx, path, data, w, args.batches,
                                        participate=w != "serial" or ctx.is_root))
    if ctx.is_root:
        report(ctx, frames, args, {w: statistics.median(t) for w, t in times.items()})
        shutil.rmtree(tmp, ignore_errors=True)


def report(ctx, frames, args, medians):
    mb = payload_mb(frames)
    print(f"frame store write: {frames.n_frames} frames x {frames['natoms'][0]} atoms "
          f"({mb:.1f} MB), {args.batches} appends, {ctx.size} rank(s), "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'writer':8s} {'time/s':>8s} {'frames/s':>10s} {'MB/s':>8s} {'vs serial':>10s}")
    for writer, sec in medians.items():
        print(f"{writer:8s} {sec:8.3f} {frames.n_frames / sec:10.0f} {mb / sec:8.1f} "
              f"{medians['serial'] / sec:9.2f}x")


if __name__ == "__main__":
    main()
