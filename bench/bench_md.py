"""DPMD speed: microseconds per atom per step, strong scaling, halo and deviation shares.

    mpirun -n 2 python bench/bench_md.py [--atoms 192 1536 12288] [--steps 20]

Water (the embedded 192-atom box replicated), a 4-member committee with
DeePMD-kit's water hyper-parameters (float64; untrained nets with statistics
from the data: the speed does not depend on the weights), NVT (NHC), 0.5 fs,
deviation every 10 steps, one thread per rank.  Reference, measured in the
same job: every rank runs the same system alone at the same time (same load
on the machine); then the ranks run it together.  Printed: us/atom/step and
ns/day, speed-up and strong-scaling efficiency, the shares of halo exchange,
neighbour lists and committee deviation in the step time, and the ratio to
DeePMD-kit's inference figures (../shared/DESIGN.md; those are per model
evaluation, ours include everything an MD step does).  Last line: JSON.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

from hpcml.config.md import MdSection
from hpcml.errors import UserError
from hpcml.explore.job import run_md
from hpcml.molecular.committee import Committee
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water
from hpcml.train.data import energy_bias, env_stats, load_frames

DEEPMD_US = {192: 418.0, 1536: 618.0}


def committee(k=4):
    spec = DeepPotSpec()
    frames = load_frames([embedded_water()], spec)[0]
    avg, std = env_stats(frames, spec)
    bias = energy_bias(frames, spec.ntypes)
    models = []
    for seed in range(1, k + 1):
        m = DeepPot(DeepPotSpec(seed=seed))
        m.descriptor.set_stats(torch.as_tensor(avg), torch.as_tensor(std))
        m.bias_atom_e.copy_(torch.as_tensor(bias))
        models.append(m)
    return Committee(models)


def one_run(ctx, comm, atoms, steps, out):
    cfg = MdSection(structure=embedded_water(), steps=steps, model_devi_freq=10,
                    traj_freq=10**6, checkpoint_freq=10**6, trust_lo=0.0, trust_hi=1e9,
                    out=out)
    summary = run_md(ctx, comm, cfg, atoms=atoms)
    w = summary["walkers"][0]
    t = w["timers"]
    return {"us_per_atom_step": w["us_per_atom_step"], "ns_per_day": w["ns_per_day"],
            "seconds": w["seconds"], **{f"share_{k}": v / w["seconds"] for k, v in t.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, nargs="+", default=[192, 1536, 12288])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    world = Context.create()
    comm = committee()
    tmp = Path(world.comm.bcast(tempfile.mkdtemp(prefix="hpcml-bench-md-") if world.is_root
                                else None))
    alone = world.split(world.size)
    rows = []
    for atoms in args.atoms:
        ref = one_run(alone, comm, atoms, args.steps, tmp / f"ref{world.rank}_{atoms}")
        ref = world.comm.bcast(ref, root=0)
        try:
            par = one_run(world, comm, atoms, args.steps, tmp / f"par_{atoms}")
        except UserError as exc:              # cell too small for this many ranks
            par = {"error": str(exc).splitlines()[0][:120]}
        rows.append({"atoms": atoms, "ranks": world.size, "one_rank": ref, "all_ranks": par})
    if world.is_root:
        print(f"load average {os.getloadavg()}, {world.size} rank(s) x 1 thread, float64, "
              f"4 models, NVT, deviation every 10 steps, {args.steps} steps")
        for r in rows:
            ref, par = r["one_rank"], r["all_ranks"]
            line = (f"{r['atoms']:6d} atoms  1 rank: {ref['us_per_atom_step']:7.1f} us/atom/step"
                    f" ({ref['ns_per_day']:.3f} ns/day; halo {100 * ref['share_halo']:.1f} %, "
                    f"nlist {100 * ref['share_nlist']:.1f} %, deviation "
                    f"{100 * ref['share_deviation']:.1f} %)")
            if r["atoms"] in DEEPMD_US:
                line += f" = {ref['us_per_atom_step'] / DEEPMD_US[r['atoms']]:.2f} x DeePMD-kit"
            print(line)
            if "error" in par:
                print(f"{'':13s}{world.size} ranks: not possible ({par['error']})")
            else:
                speedup = ref["us_per_atom_step"] / par["us_per_atom_step"]
                print(f"{'':13s}{world.size} ranks: {par['us_per_atom_step']:7.1f} us/atom/step"
                      f"  speed-up {speedup:.2f}, efficiency {100 * speedup / world.size:.0f} %"
                      f" (halo {100 * par['share_halo']:.1f} %, nlist "
                      f"{100 * par['share_nlist']:.1f} %, deviation "
                      f"{100 * par['share_deviation']:.1f} %)")
        print(json.dumps({"rows": rows, "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
