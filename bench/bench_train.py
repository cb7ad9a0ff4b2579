"""Training speed and accuracy of one DeepPot-SE model on the water data.

    python bench/bench_train.py --steps 2000 [--precision float64] [--threads 2]

Trains one model with DeePMD-kit's water hyper-parameters (inputs/water-train.yaml)
on data_0..data_2 minus the last 10 % of each system, then reports the energy
RMSE per atom and force RMSE on those 32 held-out frames, the median time per
training step, and the start-up time to the first step.  Figures are printed
against DeePMD-kit 3.2.0 on this kind of machine (../shared/DESIGN.md), and
the step time also against a float64 GEMM calibration measured in the same
run (the machine is shared: compare ratios, not seconds).  Prints the load
average.  The last line is JSON.

``--compare-ref GITREV`` times a change of the model's fast path
(``hpcml/molecular/fast.py``) against that file at ``GITREV`` in the same
run: blocks of ``--block`` training steps alternate between the two (the
first step of each block is dropped), and the medians and their ratio are
printed, so load changes hit both.
"""

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import time
import types

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hpcml.config import load_config  # noqa: E402
from hpcml.molecular.model import DeepPot  # noqa: E402
from hpcml.parallel import Context  # noqa: E402
from hpcml.testing.data import REPO, water_dir  # noqa: E402
from hpcml.train.data import load_frames, split_validation  # noqa: E402
from hpcml.train.distributed import make_averager  # noqa: E402
from hpcml.train.ensemble import options_from_config  # noqa: E402
from hpcml.train.trainer import Trainer  # noqa: E402

DEEPMD = {"step_s": {"float64": 0.181, "float32": 0.103}, "startup_s": 9.0,
          2000: (4.18, 0.265), 5000: (2.88, 0.220)}


def gemm_seconds(dtype, n=1024, repeats=5):
    """Median time of an n x n matrix product (machine-speed calibration)."""
    a = torch.randn(n, n, dtype=dtype)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, a)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_reference(rev):
    """``hpcml/molecular/fast.py`` as of git revision ``rev``, as a separate module."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:hpcml/molecular/fast.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"hpcml_fast_{rev}")
    exec(compile(source, f"{rev}:hpcml/molecular/fast.py", "exec"), module.__dict__)  # noqa: S102
    return module


def run_compared(trainer, steps, rev, block):
    """Train to ``steps``, alternating blocks between the fast path of ``rev`` and the tree's.

    Returns ``{"ref": [...], "new": [...]}`` step seconds (first step of each
    block dropped).
    """
    import hpcml.molecular.model as model_module

    new = model_module.energy_and_grad
    ref = load_reference(rev).energy_and_grad
    times = {"ref": [], "new": []}
    k = 0
    try:
        while trainer.step < steps:
            which = "ref" if k % 2 == 0 else "new"
            model_module.energy_and_grad = ref if which == "ref" else new
            trainer.opt.steps = min(trainer.step + block, steps)
            first = len(trainer.step_seconds)
            trainer.run()
            times[which] += trainer.step_seconds[first + 1:]
            k += 1
    finally:
        model_module.energy_and_grad = new
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--precision", choices=["float64", "float32"], default="float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench-train-out")
    parser.add_argument("--seed", type=int, default=1, help="model seed (frame order too)")
    parser.add_argument("--planned-steps", type=int, default=None,
                        help="learning-rate schedule of a run planned this long (e.g. "
                        "1000000, DeePMD-kit's water example), stopped after --steps")
    parser.add_argument("--compare-ref", metavar="GITREV", default=None,
                        help="also time hpcml/molecular/fast.py of GITREV, alternating "
                        "blocks of steps with the working tree's (see the module docstring)")
    parser.add_argument("--block", type=int, default=20,
                        help="steps per block with --compare-ref")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from hpcml.cli.train import model_spec

    config = load_config(REPO / "inputs" / "water-train.yaml")
    config = config.model_copy(update={"model": config.model.model_copy(
        update={"precision": args.precision})})
    spec = model_spec(config)
    cfg = config.train.model_copy(update={
        "steps": args.steps, "disp_freq": max(args.steps // 10, 1), "save_freq": args.steps,
        "seed": args.seed})
    systems = [water_dir() / f"data_{i}" for i in range(3)]
    train, valid = split_validation(load_frames(systems, spec), cfg.validation_fraction)
    ctx = Context.create(serial=True)
    spec = dataclasses.replace(spec, seed=args.seed)
    options = options_from_config(cfg, 0, 1)
    if args.planned_steps:
        options.schedule = dataclasses.replace(options.schedule, steps=args.planned_steps)
    trainer = Trainer(DeepPot(spec), train, valid, options, ctx, make_averager(ctx), args.out)
    trainer.initialize_from_data()
    trainer.opt.steps = 1
    trainer.run()
    startup = time.perf_counter() - T_START
    load_before = os.getloadavg()
    compared = None
    if args.compare_ref:
        compared = run_compared(trainer, args.steps, args.compare_ref, args.block)
    else:
        trainer.opt.steps = args.steps
        trainer.run()
    # with --compare-ref the headline figures are the working tree's steps
    step_times = compared["new"] if compared else trainer.step_seconds[1:]
    metrics = trainer.validate()
    gemm = gemm_seconds(torch.float64)
    step = statistics.median(step_times)
    e_mev, f_ev = 1000 * metrics["rmse_e"], metrics["rmse_f"]
    print(f"load average {os.getloadavg()} (before the steps {load_before}), "
          f"{args.threads} thread(s), {args.precision}")
    print(f"start-up to first step   {startup:8.2f} s    DeePMD-kit {DEEPMD['startup_s']} s "
          f"(ratio {startup / DEEPMD['startup_s']:.2f})")
    ref = DEEPMD["step_s"][args.precision]
    print(f"training step (median)   {step:8.4f} s    DeePMD-kit {ref} s (ratio {step / ref:.2f}); "
          f"= {step / gemm:.1f} x a 1024^3 float64 GEMM ({gemm * 1e3:.2f} ms)")
    ratio = None
    if compared:
        med = {k: statistics.median(v) for k, v in compared.items()}
        ratio = med["new"] / med["ref"]
        print(f"fast.py at {args.compare_ref}: median {med['ref'] * 1e3:.2f} ms "
              f"({len(compared['ref'])} steps); working tree: {med['new'] * 1e3:.2f} ms "
              f"({len(compared['new'])} steps); ratio {ratio:.3f} (blocks of {args.block}, "
              "alternating)")
    if args.steps in DEEPMD:
        e_ref, f_ref = DEEPMD[args.steps]
        print(f"after {args.steps} steps: energy {e_mev:.3f} meV/atom (DeePMD-kit {e_ref}), "
              f"force {f_ev:.4f} eV/A (DeePMD-kit {f_ref}), {len(valid)} held-out frames")
    else:
        print(f"after {args.steps} steps: energy {e_mev:.3f} meV/atom, force {f_ev:.4f} eV/A")
    print(json.dumps({"steps": args.steps, "seed": args.seed, "planned": args.planned_steps,
                      "precision": args.precision,
                      "threads": args.threads,
                      "step_s": step, "startup_s": startup, "gemm_s": gemm,
                      "energy_rmse_meV_per_atom": e_mev, "force_rmse_eV_per_A": f_ev,
                      "valid_frames": len(valid), "loadavg": os.getloadavg()[0],
                      "p90_step_s": float(np.percentile(step_times, 90)),
                      "compare_ref": args.compare_ref,
                      "ref_step_s": statistics.median(compared["ref"]) if compared else None,
                      "new_step_s": statistics.median(compared["new"]) if compared else None,
                      "new_over_ref": ratio}))


if __name__ == "__main__":
    main()
