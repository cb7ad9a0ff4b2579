"""Classical moment closures against the kinetic solver, and what a moment solve costs.

For Sod (the problem of inputs/sod-bgk.yaml, t = 0.2) and a smooth periodic wave
(``smooth_wave`` seed 1, t = 0.1), at each Knudsen number of ``--eps``: the BGK kinetic
solve (Chu mode, the velocity grid ``velocity.n`` would get from the Knudsen number,
native kernels when they build) and the moment solves with the Euler, Navier-Stokes
and Grad closures on the same x grid, all serial, one after the other in this process.
Printed: relative L1 and L2 errors of rho, u, T of each closure against the kinetic
solution at t_end, and the wall time of each moment solve over the kinetic solve's
(stepping only, same run, same nx).  Also the Euler closure against the exact Riemann
solution of Sod (L1 of rho over nx), and the cost per step and per cell of each solver
against nx (``--cost-grids``).  No thresholds: this prints figures.

    python bench/bench_moments.py [--nx 200] [--eps 1e-3,1e-2,1e-1,1,10] [--figures DIR]
"""

import argparse
import os
import time

import numpy as np

from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import smooth_wave, sod
from hpcml.kinetic.resolution import auto_points
from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions
from hpcml.moments.solver import MomentProblem, MomentSolveError, MomentSolver
from hpcml.moments.solver import TimeOptions as MomentOptions
from hpcml.testing.analytic import euler_riemann

CLOSURES = ("euler", "ns", "grad")
FIELDS = ("rho", "u", "T")
SOD = ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1))
CASES = {"sod": dict(t_end=0.2, boundary=("outflow", "outflow")),
         "wave": dict(t_end=0.1, boundary=("periodic", "periodic"))}


def initial(case, x):
    if case == "sod":
        return sod(x)
    return smooth_wave(x, seed=1, domain=(0.0, 1.0))[:3]


def kinetic(case, eps, nx):
    """Moments at t_end, stepping wall time and the velocity points of the kinetic solve."""
    cfg = CASES[case]
    x = (np.arange(nx) + 0.5) / nx
    rho, u, T = initial(case, x)
    vmax = 6.5 if case == "sod" else float(np.abs(u).max() + 6.5 * np.sqrt(T.max()))
    n = auto_points(eps)
    s = KineticSolver(Problem(CellLayout.make("chu", n, vmax), nx, eps=eps,
                              boundary=cfg["boundary"]), TimeOptions(cfl=0.45))
    s.set_state(rho, u, T)
    summary = s.run(cfg["t_end"])
    return s.moments(), summary["wall_s"], n, summary["kernels"]["transport"]


def moments(case, closure, eps, nx):
    """Moments at t_end and the stepping wall time of a moment solve (None when it failed)."""
    cfg = CASES[case]
    s = MomentSolver(MomentProblem(closure, nx, eps=eps, boundary=cfg["boundary"]),
                     MomentOptions(cfl=0.45))
    s.set_state(*initial(case, s.x))
    try:
        summary = s.run(cfg["t_end"])
    except MomentSolveError as exc:
        return None, str(exc).split(":")[0]
    return s.moments(), summary["wall_s"]


def relative(a, b, order):
    return np.linalg.norm(a - b, order) / np.linalg.norm(b, order)


def compare(args):
    """The error and cost tables; returns the solutions for the figures."""
    eps_list = [float(e) for e in args.eps.split(",")]
    solutions = {}
    print(f"nx = {args.nx}; relative L1 / L2 errors against the BGK kinetic solution at t_end; "
          "cost = moment wall / kinetic wall (stepping only, serial, same run)")
    for case in CASES:
        print(f"\n{case} (t_end {CASES[case]['t_end']})\n")
        print("| eps | closure | rho L1 | rho L2 | u L1 | u L2 | T L1 | T L2 | cost |")
        print("|---|---|---|---|---|---|---|---|---|")
        for eps in eps_list:
            kin, kin_wall, n, kernels = kinetic(case, eps, args.nx)
            solutions[case, eps, "kinetic"] = kin
            for closure in CLOSURES:
                got, wall = moments(case, closure, eps, args.nx)
                solutions[case, eps, closure] = got
                if got is None:
                    print(f"| {eps:g} | {closure} | failed: {wall} | | | | | | |")
                    continue
                cells = [f"{relative(got[k], kin[k], o):.2e}" for k in FIELDS for o in (1, 2)]
                print(f"| {eps:g} | {closure} | " + " | ".join(cells)
                      + f" | {wall / kin_wall:.3f} |", flush=True)
            print(f"|  | kinetic: n = {n}, {kernels} kernels, {kin_wall:.2f} s | | | | | | | |")
    return solutions


def cost_scaling(grids, eps=1e-2, t_end=0.02):
    """Wall time per step and per cell-step of the moment and kinetic solves against nx."""
    print(f"\nCost against nx: Sod, eps = {eps:g}, t_end = {t_end:g} (kinetic n = "
          f"{auto_points(eps)}); microseconds per step / nanoseconds per cell and step\n")
    print("| nx | kinetic | " + " | ".join(CLOSURES) + " | "
          + " | ".join(f"{c}/kinetic wall" for c in CLOSURES) + " |")
    print("|---" * (2 + 2 * len(CLOSURES)) + "|")
    for nx in grids:
        walls, cells = {}, []
        for name in ("kinetic", *CLOSURES):
            if name == "kinetic":
                s = KineticSolver(Problem(CellLayout.make("chu", auto_points(eps), 6.5), nx,
                                          eps=eps), TimeOptions(cfl=0.45))
            else:
                s = MomentSolver(MomentProblem(name, nx, eps=eps), MomentOptions(cfl=0.45))
            s.set_state(*sod(s.x))
            summary = s.run(t_end)
            walls[name] = summary["wall_s"]
            per_step = summary["wall_s"] / summary["steps"]
            cells.append(f"{per_step * 1e6:.0f} / {per_step / nx * 1e9:.0f}")
        ratios = [f"{walls[c] / walls['kinetic']:.3f}" for c in CLOSURES]
        print(f"| {nx} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |", flush=True)


def sod_convergence(grids):
    """L1 density error of the Euler closure on Sod against the exact solution."""
    print("\nEuler closure, Sod at t = 0.2, against the exact Riemann solution\n")
    print("| nx | L1(rho) | order | L1(u) |")
    print("|---|---|---|---|")
    out, last = {}, None
    for nx in grids:
        s = MomentSolver(MomentProblem("euler", nx))
        s.set_state(*sod(s.x))
        s.run(0.2)
        rho, u, _ = euler_riemann(s.x, 0.2, *SOD)
        m = s.moments()
        err = np.abs(m["rho"] - rho).mean()
        order = "" if last is None else f"{np.log2(last / err):.2f}"
        print(f"| {nx} | {err:.2e} | {order} | {np.abs(m['u'] - u).mean():.2e} |")
        out[nx], last = (s.x, m), err
    return out


def save(fig, path, dpi):
    """Write ``fig`` as a palette PNG (a quarter of the bytes of matplotlib's RGBA one)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi)
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(64).save(path, optimize=True)


def figures(directory, solutions, convergence, nx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    xs = np.linspace(0, 1, 2001)
    exact = euler_riemann(xs, 0.2, *SOD)
    for ax, k, e in zip(axes, FIELDS, (exact[0], exact[1], exact[2] / exact[0])):
        ax.plot(xs, e, "k-", lw=1, label="exact Euler")
        for n, (x, m) in convergence.items():
            ax.plot(x, m[k], lw=1, label=f"Euler closure, nx {n}")
        ax.set_title(k)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, os.path.join(directory, "moments-sod-euler.png"), 90)
    for case in CASES:
        eps_list = sorted({e for c, e, _ in solutions if c == case})
        fig, axes = plt.subplots(len(eps_list), 3, figsize=(12, 2.4 * len(eps_list)),
                                 squeeze=False)
        x = (np.arange(nx) + 0.5) / nx
        for row, eps in zip(axes, eps_list):
            for ax, k in zip(row, FIELDS):
                ax.plot(x, solutions[case, eps, "kinetic"][k], "k-", lw=2, label="kinetic")
                for closure, style in zip(CLOSURES, ("--", "-.", ":")):
                    got = solutions[case, eps, closure]
                    if got is not None:
                        ax.plot(x, got[k], style, lw=1.2, label=closure)
                ax.set_title(f"{k}, eps = {eps:g}", fontsize=9)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        save(fig, os.path.join(directory, f"moments-{case}-closures.png"), 80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=200)
    parser.add_argument("--eps", default="1e-3,1e-2,1e-1,1,10")
    parser.add_argument("--grids", default="100,200,400,800")
    parser.add_argument("--cost-grids", default="200,1000,5000")
    parser.add_argument("--figures", default=None, help="write PNG figures to this directory")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    solutions = compare(args)
    convergence = sod_convergence([int(n) for n in args.grids.split(",")])
    cost_scaling([int(n) for n in args.cost_grids.split(",")])
    print(f"\nload average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{time.perf_counter() - start:.0f} s")
    if args.figures:
        figures(args.figures, solutions, {n: convergence[n] for n in list(convergence)[:3]},
                args.nx)


if __name__ == "__main__":
    main()
