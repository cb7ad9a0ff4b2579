"""Velocity-grid error of the kinetic solver against the Knudsen number (the table behind
``hpcml.kinetic.resolution``).

Sod (BGK, Chu mode, ``vmax = 6.5``, MC, CFL 0.45, t 0.2) on ``--nx`` cells, for each
Knudsen number of ``--kn`` and velocity grid of ``--nv``: the largest and the mean
``|rho - rho_ref|`` against the same solve with ``--ref`` points, and the ``n`` that
:func:`hpcml.kinetic.resolution.auto_points` picks.  Serial; no thresholds: this prints
figures (``python bench/bench_kinetic_velocity.py --nx 400`` for the finer grid).
"""

import argparse
import time

import numpy as np

from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import sod
from hpcml.kinetic.resolution import auto_points, density_error
from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions


def density(eps: float, nv: int, nx: int, t_end: float = 0.2) -> np.ndarray:
    """Density of Sod at ``t_end`` with ``nv`` velocity points."""
    s = KineticSolver(Problem(CellLayout.make("chu", nv, 6.5), nx, eps=eps), TimeOptions(cfl=0.45))
    s.set_state(*sod(s.x))
    s.run(t_end)
    return s.moments()["rho"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=200)
    parser.add_argument("--kn", default="0.01,0.02,0.05,0.1,0.2,0.5,1,10")
    parser.add_argument("--nv", default="32,64,96,128,192,256")
    parser.add_argument("--ref", type=int, default=1024)
    args = parser.parse_args()
    grids = [int(v) for v in args.nv.split(",")]
    print(f"Sod, BGK, Chu, nx {args.nx}: max|rho - rho(n={args.ref})| (mean in brackets); "
          "auto: the n picked when velocity.n is unset; model: resolution.density_error")
    print("| Kn | " + " | ".join(f"n = {n}" for n in grids) + " | auto | model at auto |")
    print("|---" * (len(grids) + 3) + "|")
    for kn in (float(k) for k in args.kn.split(",")):
        start = time.perf_counter()
        ref = density(kn, args.ref, args.nx)
        cells = []
        for n in grids:
            err = np.abs(density(kn, n, args.nx) - ref)
            cells.append(f"{err.max():.1e} ({err.mean():.0e})")
        auto = auto_points(kn)
        print(f"| {kn:g} | " + " | ".join(cells) + f" | {auto} | "
              f"{density_error(kn, auto):.1e} |  ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
