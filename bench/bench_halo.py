"""Cost of the domain-decomposition halo exchange per MD step, against an LJ force evaluation.

Times ``Domain.ghosts()``, ``forward()``, ``reverse()`` and ``migrate()`` for
1536 and 12288 atoms at the atom density of liquid water (0.1 /A^3; rcut
6 A, skin 1 A as in DeePMD-kit water models), and the shifted-force LJ force
evaluation on the same local + ghost atoms (``lennard_jones_extended``) in
the same run.  Each figure is the median over ``--repeats`` calls of the
slowest rank.  ``forward + reverse`` is paid every step; ``ghosts + migrate``
once per neighbour-list rebuild (every ~10-50 steps).

Started without a launcher (as ``make bench`` does), it runs itself under
``mpirun --oversubscribe -n NP`` for each NP of ``--np`` (default ``1,2``).
No thresholds: this prints figures.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np

from hpcml.parallel import Context, allreduce_max, under_mpi_launcher
from hpcml.parallel.domain import Domain
from hpcml.testing.potentials import lennard_jones_extended

DENSITY, RCUT, SKIN = 0.1, 6.0, 1.0


def timed_ms(ctx, fn, repeats):
    """Median over ``repeats`` of the slowest rank's wall time of ``fn()`` (ms), last result."""
    times, result = [], None
    for _ in range(repeats):
        ctx.comm.barrier()
        t0 = time.perf_counter()
        result = fn()
        times.append(allreduce_max(ctx, time.perf_counter() - t0))
    return 1e3 * statistics.median(times), result


def system(n_atoms, seed=0):
    length = (n_atoms / DENSITY) ** (1 / 3)
    rng = np.random.default_rng(seed)
    return rng.uniform(0, length, size=(n_atoms, 3)), np.eye(3) * length


def measure(ctx, n_atoms, repeats):
    positions, cell = system(n_atoms)
    domain = Domain(ctx, cell, RCUT + SKIN)
    rng = np.random.default_rng(1 + ctx.rank)
    local = domain.scatter(positions, np.arange(n_atoms), {"types": np.zeros(n_atoms, int),
                                                           "velocities": positions * 0.0})
    lj = lennard_jones_extended(sigma=1.0, rcut=RCUT)

    def moved_and_migrated():
        step = rng.normal(scale=0.05, size=local.positions.shape)
        return domain.migrate(replace(local, positions=local.positions + step))

    t_migrate, local = timed_ms(ctx, moved_and_migrated, repeats)
    t_ghosts, (plan, ghost_x, _, _) = timed_ms(ctx, lambda: domain.ghosts(local), repeats)
    t_forward, _ = timed_ms(ctx, lambda: domain.forward(plan, local.positions), repeats)
    extended = np.concatenate([local.positions, ghost_x])
    t_force, (_, forces) = timed_ms(ctx, lambda: lj(extended, len(local)),
                                    max(3, repeats // 4))
    ghost_forces = forces[len(local):]
    t_reverse, _ = timed_ms(ctx, lambda: domain.reverse(plan, ghost_forces), repeats)
    counts = ctx.comm.allgather((len(local), plan.n_ghost))
    return dict(grid=domain.grid, counts=counts, migrate=t_migrate, ghosts=t_ghosts,
                forward=t_forward, reverse=t_reverse, force=t_force)


def report(ctx, n_atoms, r):
    local = max(c[0] for c in r["counts"])
    ghosts = max(c[1] for c in r["counts"])
    per_step = r["forward"] + r["reverse"]
    rebuild = r["ghosts"] + r["migrate"]
    print(f"{n_atoms:6d} atoms  {ctx.size} rank(s) grid {r['grid']}  "
          f"owned<= {local}  ghosts<= {ghosts}")
    print(f"    ghosts {r['ghosts']:8.2f} ms   forward {r['forward']:7.3f} ms   "
          f"reverse {r['reverse']:7.3f} ms   migrate {r['migrate']:7.2f} ms   "
          f"LJ forces {r['force']:8.1f} ms")
    print(f"    per step (forward+reverse) {per_step:7.3f} ms = "
          f"{100 * per_step / r['force']:5.2f} % of LJ;  per rebuild (ghosts+migrate) "
          f"{rebuild:7.2f} ms = {100 * rebuild / r['force']:5.1f} % of LJ "
          f"({100 * rebuild / r['force'] / 10:4.2f} %/step at 10 steps per rebuild)",
          flush=True)


def relaunch(nps, argv):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        sys.exit("bench_halo: needs mpirun on PATH")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for n in nps:
        cmd = [mpirun, "--oversubscribe", "-n", str(n), sys.executable, __file__, *argv]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, env=env, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", default="1536,12288", help="comma-separated system sizes")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--np", default="1,2", help="rank counts when started without mpirun")
    args, _ = parser.parse_known_args()
    if not under_mpi_launcher():
        relaunch([int(n) for n in args.np.split(",")], sys.argv[1:])
        return
    ctx = Context.create()
    if ctx.is_root:
        print(f"bench_halo: {ctx.size} rank(s), load average {os.getloadavg()}, "
              f"rcut {RCUT} A + skin {SKIN} A, {DENSITY} atoms/A^3", flush=True)
    for n_atoms in (int(n) for n in args.atoms.split(",")):
        result = measure(ctx, n_atoms, args.repeats)
        if ctx.is_root:
            report(ctx, n_atoms, result)
    if ctx.is_root:
        print(f"    load average after {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
