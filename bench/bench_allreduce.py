"""Gradient allreduce cost of each available backend (mpi4py, torch.distributed, Horovod).

Run under MPI, e.g.::

    mpirun -n 2 python bench/bench_allreduce.py

Started without a launcher (as ``make bench`` does), it re-runs itself under
``mpirun --oversubscribe -n NP`` (``--np``, default 2).

Two payloads:

- ``flat 1M float32``: one contiguous buffer of 1,000,000 float32 averaged in
  place (the collective alone; DESIGN.md quotes mpi4py 0.51 ms, Horovod 0.67 ms
  on 2 ranks);
- ``grads ~1.4M float64``: ``averager.average(params)`` on a list of
  parameters shaped like stacked 1600-240-240-240-1 fitting nets (a DeepPot-SE
  water model is of this order), i.e. pack + allreduce + unpack.

Each figure is the median over ``--rounds`` x ``--repeats`` timed calls
(slowest rank of each call; ``--warmup`` untimed calls per round), reported
as a ratio against mpi4py measured in the same run.  The backends take turns
round by round, so that changes in the machine's load hit all of them.
No thresholds: this prints figures.
"""

import argparse
import os
import shutil
import statistics
import sys
import time

import torch

from hpcml.parallel import Context, under_mpi_launcher
from hpcml.train.distributed import available_backends, make_averager


def fitting_like_params(n_target):
    """Float64 parameters of 1600-240-240-240-1 MLP layers until ``n_target`` values are reached."""
    widths = [1600, 240, 240, 240, 1]
    layers = list(zip(widths[:-1], widths[1:]))
    params, total, i = [], 0, 0
    while total < n_target:
        n_in, n_out = layers[i % len(layers)]
        for shape in ((n_out, n_in), (n_out,)):
            p = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))
            p.grad = torch.randn(shape, dtype=torch.float64)
            params.append(p)
            total += p.numel()
        i += 1
    return params, total


def timed_ms(ctx, fn, repeats, warmup):
    """Wall times of ``repeats`` calls of ``fn()`` (slowest rank of each), in ms."""
    times = []
    for i in range(warmup + repeats):
        ctx.comm.barrier()
        start = time.perf_counter()
        fn()
        elapsed = max(ctx.comm.allgather(time.perf_counter() - start))
        if i >= warmup:
            times.append(elapsed * 1e3)
    return times


def measure(ctx, backend, flat, params, args):
    """Times (ms) of the flat allreduce and of average(params) for one backend."""
    averager = make_averager(ctx, backend)
    try:
        buf = flat.clone()
        return {
            "flat": timed_ms(ctx, lambda: averager._allreduce_mean_(buf), args.repeats,
                             args.warmup),
            "grads": timed_ms(ctx, lambda: averager.average(params), args.repeats, args.warmup),
        }
    finally:
        averager.close()


def relaunch(n_ranks):
    """Replace this process by ``mpirun -n n_ranks`` running the same command."""
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        sys.exit("bench_allreduce: needs MPI ranks and no mpirun is on PATH")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    argv = [mpirun, "--oversubscribe", "-n", str(n_ranks), sys.executable, *sys.argv]
    print("running:", " ".join(argv), flush=True)
    os.execv(mpirun, argv)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="backends alternate per round")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--n-flat", type=int, default=1_000_000)
    parser.add_argument("--n-params", type=int, default=1_400_000)
    parser.add_argument("--backends", default="",
                        help="comma-separated subset (mpi4py always runs)")
    parser.add_argument("--np", type=int, default=2, help="ranks when started without mpirun")
    args = parser.parse_args()
    if not under_mpi_launcher():
        relaunch(args.np)
    torch.set_num_threads(1)
    ctx = Context.create()
    have = ctx.comm.allgather(available_backends())
    backends = [b for b in have[0] if all(b in h for h in have)
                and (b == "mpi4py" or not args.backends or b in args.backends.split(","))]
    flat = torch.randn(args.n_flat, dtype=torch.float32)
    params, n_params = fitting_like_params(args.n_params)
    times = {b: {"flat": [], "grads": []} for b in backends}
    for _ in range(args.rounds):  # alternate so that load changes hit every backend
        for b in backends:
            for key, values in measure(ctx, b, flat, params, args).items():
                times[b][key].extend(values)
    results = {b: {k: statistics.median(v) for k, v in t.items()} for b, t in times.items()}
    if not ctx.is_root:
        return
    load = os.getloadavg()
    print(f"{ctx.size} rank(s); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"median of {args.rounds}x{args.repeats} (slowest rank); HOROVOD_CYCLE_TIME="
          f"{os.environ.get('HOROVOD_CYCLE_TIME', 'unset')} ms")
    labels = {"flat": f"flat {args.n_flat / 1e6:g}M float32",
              "grads": f"average() {n_params / 1e6:.2f}M float64 in {len(params)} tensors"}
    for key, label in labels.items():
        ref = results["mpi4py"][key]
        print(f"{label}:")
        for b in backends:
            ms = results[b][key]
            print(f"  {b:18s} {ms:8.3f} ms   x{ms / ref:5.2f} vs mpi4py")


if __name__ == "__main__":
    main()
