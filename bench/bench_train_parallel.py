"""Data-parallel training efficiency at 2 ranks, per gradient-averaging backend.

    mpirun -n 2 python bench/bench_train_parallel.py [--steps 30]

Water, DeePMD-kit's water hyper-parameters, float64, one thread per rank,
batch size 1 per rank.  Reference, measured in the same job: every rank
trains its own model alone (no communication) while the other rank does the
same, so both runs see the same load.  Then the ranks train one model
together with each backend.  Efficiency = reference step time / data-parallel
step time (throughput per rank kept); the allreduce share is the time spent in
``averager.average`` over the step time.  Medians over steps after a warm-up;
the slowest rank counts.  The last line is JSON.
"""

import argparse
import json
import os
import statistics
import time

import torch

from hpcml.config.train import TrainSection
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context
from hpcml.testing.data import water_dir
from hpcml.train.data import load_frames, split_validation
from hpcml.train.distributed import available_backends, make_averager
from hpcml.train.ensemble import options_from_config
from hpcml.train.trainer import Trainer


class TimedAverager:
    """Wrap an averager and record the seconds of each ``average`` call."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, []
        self.name = inner.name

    def average(self, params):
        t0 = time.perf_counter()
        self.inner.average(params)
        self.seconds.append(time.perf_counter() - t0)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def median_step(ctx, frames, steps, warmup, backend):
    """(median step s, median allreduce s) of the slowest rank."""
    spec = DeepPotSpec()
    cfg = TrainSection(steps=steps + warmup, n_models=1, disp_freq=10**6, save_freq=10**6)
    averager = TimedAverager(make_averager(ctx, backend))
    trainer = Trainer(DeepPot(spec), *frames, options_from_config(cfg, 0, ctx.size), ctx,
                      averager, f"/tmp/hpcml-bench-par-{os.getpid()}")
    trainer.initialize_from_data()
    trainer.run()
    averager.inner.close()
    step = statistics.median(trainer.step_seconds[warmup:])
    reduce = statistics.median(averager.seconds[warmup:]) if averager.seconds else 0.0
    return max(ctx.comm.allgather(step)), max(ctx.comm.allgather(reduce))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    world = Context.create()
    spec = DeepPotSpec()
    frames = split_validation(load_frames([water_dir() / "data_0"], spec), 0.1)
    alone = world.split(world.size)               # every rank on its own
    t_ref, _ = median_step(alone, frames, args.steps, args.warmup, "mpi4py")
    t_ref = max(world.comm.allgather(t_ref))
    rows = {}
    for backend in available_backends():
        t_par, t_red = median_step(world, frames, args.steps, args.warmup, backend)
        rows[backend] = {"step_s": t_par, "allreduce_s": t_red, "efficiency": t_ref / t_par,
                         "allreduce_share": t_red / t_par}
    if world.is_root:
        print(f"load average {os.getloadavg()}, {world.size} ranks x 1 thread, float64 water")
        print(f"reference (each rank alone): {t_ref:.4f} s/step")
        for name, r in rows.items():
            print(f"{name:18s} {r['step_s']:.4f} s/step  efficiency {r['efficiency']:.2f}  "
                  f"allreduce {r['allreduce_s'] * 1e3:.2f} ms ({100 * r['allreduce_share']:.1f} %"
                  " of the step)")
        print(json.dumps({"ranks": world.size, "reference_step_s": t_ref, "backends": rows,
                          "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
