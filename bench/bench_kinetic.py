"""Kinetic kernels against the memory-bandwidth roofline: transport, BGK, FSM; 1 and 2 ranks.

Measures, on each rank's slab of cells and with all ranks working at once:

* a STREAM-like triad ``a = b + s c`` (and copy) on arrays far larger than
  the caches: the machine's memory bandwidth, the roofline;
* cell-velocity updates per second of one forward-Euler transport stage
  (``hpcml.kinetic.transport.transport_step``) and of one BGK step
  (``hpcml.kinetic.bgk.bgk_step``), in ``full`` (N^3 velocities per cell) and
  ``chu`` (2 N per cell) modes, and the share of the roofline they reach
  counting the compulsory traffic of :data:`BYTES_PER_UPDATE`; the same for the
  product's fused C kernels (``hpcml.kinetic.native``, built at first use), with
  their largest relative difference from the numpy kernels;
* the fast spectral operator (``SpectralBoltzmann.collide``) when installed;
* a whole solver step (SSP-RK2 transport + collision) of the serial
  reference (numpy and native kernels) and, when installed, of the PETSc
  solver (``-kinetic_kernels auto``).

Strong scaling: a fixed global ``--nx`` split over the ranks; weak scaling:
``--nx / 2`` cells per rank.  Each figure is the median over ``--repeats`` of
the slowest rank's time.  Started without a launcher (as ``make bench`` does)
it runs itself under ``mpirun --oversubscribe -n NP`` for each NP of ``--np``
(default ``1,2``) and prints the tables; under ``mpirun`` it prints one run's
figures.  No thresholds: this prints figures.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from hpcml.kinetic.bgk import bgk_step, maxwellian_from_state
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import sod
from hpcml.kinetic.transport import GHOSTS, TransportWork, transport_step
from hpcml.parallel import Context, allreduce_max, under_mpi_launcher

#: Compulsory memory traffic per cell-velocity update, bytes (float64): read f once and
#: write the result once.  Transport: the stencil's neighbours f_{i-2..i+2} are reused
#: from cache (one cell's velocity block is <= 260 KiB), so f streams in once; BGK: the
#: moments and the Maxwellian of one cell are computed from its block while it is in
#: cache, so a cell-blocked kernel reads f once and writes once.  Write-allocate traffic
#: is not counted (as in STREAM), so is the triad's: 24 bytes per element (b, c in, a out).
BYTES_PER_UPDATE = {"transport": 16, "bgk": 16}
TRIAD_BYTES, COPY_BYTES = 24, 16
#: elements per block of the triad (512 KiB: the product stays in the 2 MiB L2)
TRIAD_BLOCK = 65536


def timed(ctx, fn, repeats):
    """Median over ``repeats`` of the slowest rank's wall time of ``fn()`` (s)."""
    fn()                                                     # warm-up: buffers, page faults
    times = []
    for _ in range(repeats):
        ctx.comm.barrier()
        t0 = time.perf_counter()
        fn()
        times.append(allreduce_max(ctx, time.perf_counter() - t0))
    return statistics.median(times)


def stream(ctx, n_elements, repeats):
    """Aggregate bandwidth (GB/s, STREAM byte counts) of all ranks at once.

    ``triad`` is ``a = b + s c`` in blocks of :data:`TRIAD_BLOCK` elements (the
    product of a block stays in L2, so memory sees one pass: b and c in, a
    out, like STREAM's fused loop): the roofline.  ``triad_2pass`` is the
    plain numpy ``np.multiply`` then ``np.add`` over whole arrays (40 bytes
    of traffic, 24 counted), ``add`` is ``a = b + c``, ``copy`` is ``a = b``.
    """
    a, b, c = (np.full(n_elements, v) for v in (0.0, 1.0, 2.0))
    s, tmp = 3.0, np.empty(TRIAD_BLOCK)
    blocks = [slice(k, min(k + TRIAD_BLOCK, n_elements))
              for k in range(0, n_elements, TRIAD_BLOCK)]

    def triad():
        for blk in blocks:
            t = tmp[:blk.stop - blk.start]
            np.multiply(c[blk], s, out=t)
            np.add(t, b[blk], out=a[blk])

    def triad_2pass():
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    total = n_elements * ctx.size / 1e9
    times = {"triad": timed(ctx, triad, repeats),
             "triad_2pass": timed(ctx, triad_2pass, repeats),
             "add": timed(ctx, lambda: np.add(b, c, out=a), repeats),
             "copy": timed(ctx, lambda: np.copyto(a, b), repeats)}
    return {k: (COPY_BYTES if k == "copy" else TRIAD_BYTES) * total / t
            for k, t in times.items()}


def distribution(layout, nx_local, offset, nx_global):
    """Maxwellians of Sod data on this rank's cells plus ghosts, ``(nx_local + 4, *shape)``."""
    dx = 1.0 / nx_global
    x = (np.arange(offset - GHOSTS, offset + nx_local + GHOSTS) + 0.5) * dx
    rho, u, temp = sod(x)
    return maxwellian_from_state(rho, u, temp, layout)


def kernels(ctx, layout, nx_local, repeats):
    """Seconds per call of one transport stage and one BGK step on this rank's block."""
    fg = distribution(layout, nx_local, nx_local * ctx.rank, nx_local * ctx.size)
    out, work = np.empty((nx_local, *layout.shape)), TransportWork()
    nu = 0.5 * 0.9 / float(np.abs(layout.grid.v).max())
    t_transport = timed(ctx, lambda: transport_step(fg, layout.vx, nu, "mc", out=out,
                                                    work=work), repeats)
    # BGK on a non-equilibrium f (Newton then takes its usual 2-3 iterations, not 1)
    rng = np.random.default_rng(ctx.rank)
    f = fg[GHOSTS:-GHOSTS] * (1.0 + 0.02 * rng.random((nx_local, *layout.shape)))
    t_bgk = timed(ctx, lambda: bgk_step(f, layout, 1e-3, 1e-3, out=out), repeats)
    return {"transport": t_transport, "bgk": t_bgk}


def spectral(ctx, n, n_angles, cells, repeats):
    """Seconds per ``SpectralBoltzmann.collide`` of ``cells`` cells per rank, or None."""
    try:
        from hpcml.kinetic.spectral import SpectralBoltzmann
    except ImportError:
        return None
    vmax = 8.0
    layout = CellLayout.make("full", n, vmax)
    op = SpectralBoltzmann(n, vmax, n_angles=n_angles)
    f = maxwellian_from_state(np.linspace(0.5, 1.5, cells), 0.2, 1.0, layout)
    return timed(ctx, lambda: op.collide(f), repeats)


def solver_step(ctx, mode, n, nx, collision, repeats):
    """Seconds per whole step (SSP-RK2 transport + collision) of the serial and PETSc solvers.

    The serial reference runs on one rank only, with the numpy and (when they
    build) the native kernels; the PETSc twin (ghost exchange by the DMDA,
    global CFL and reductions) with the native kernels (``auto``) on every rank
    count, when installed.
    """
    from hpcml.kinetic import native
    from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions

    layout = CellLayout.make(mode, n, 8.0)
    problem = Problem(layout, nx, eps=1e-3, collision=collision)
    result = {}
    solvers = {}
    if ctx.size == 1:
        solvers["serial"] = KineticSolver(problem, TimeOptions(kernels="numpy"))
        if native.load() is not None:
            solvers["serial-native"] = KineticSolver(problem, TimeOptions(kernels="native"))
    petsc = petsc_solver(ctx, problem)
    if petsc is not None:
        solvers["petsc"] = petsc
        result["petsc_kernels"] = petsc.kernels["transport"]
    for name, solver in solvers.items():
        solver.set_state(*sod(solver.x))
        dt = solver.max_dt()
        for _ in range(3):                      # leave the pure-Maxwellian start behind
            solver.step(dt)
        result[name] = timed(ctx, lambda s=solver, dt=dt: s.step(dt), repeats)
    if petsc is not None:
        petsc.destroy()
    return result


def petsc_solver(ctx, problem):
    """The PETSc twin of the solver on ``ctx``, or None when petsc4py is missing."""
    try:
        from hpcml.kinetic.petsc.solver import PetscKineticSolver
    except ImportError:
        return None
    return PetscKineticSolver(problem, None, ctx)


def native_kernels(ctx, layout, nx_local, repeats):
    """Seconds per call of the product's fused C kernels (hpcml.kinetic.native) and their
    largest relative difference from the numpy kernels; None when they cannot be built."""
    from hpcml.kinetic import native

    lib = native.load()
    if lib is None:
        return None
    fg = np.ascontiguousarray(distribution(layout, nx_local, nx_local * ctx.rank,
                                           nx_local * ctx.size))
    nu = 0.5 * 0.9 / float(np.abs(layout.grid.v).max())
    out, ref = np.empty((nx_local, *layout.shape)), np.empty((nx_local, *layout.shape))
    plan = native.TransportPlan(layout)
    res = {"transport": timed(ctx, lambda: lib.transport_step(fg, layout, nu, "mc", out=out,
                                                              plan=plan), repeats)}
    transport_step(fg, layout.vx, nu, "mc", out=ref)
    res["transport_diff"] = float(np.abs(out - ref).max() / np.abs(ref).max())
    f = fg[GHOSTS:-GHOSTS] * (1.0 + 0.02 * np.random.default_rng(ctx.rank).random(out.shape))
    work = {}
    res["bgk"] = timed(ctx, lambda: lib.bgk_step(f, layout, 1e-3, 1e-3, out=out, work=work),
                       repeats)
    bgk_step(f, layout, 1e-3, 1e-3, out=ref)
    res["bgk_diff"] = float(np.abs(out - ref).max() / np.abs(ref).max())
    return res


#: the whole-step timings: serial numpy, serial native, PETSc (auto: native when built)
SOLVER_KINDS = ("serial", "serial-native", "petsc")


def SOLVER_CASES(args):  # noqa: N802
    """(mode, N, nx, collision) of the whole-step timings."""
    return (("full", 24, 128, "bgk"), ("chu", args.chu_nv, 8192, "bgk"))


def measure(ctx, args):
    """All figures of this run (one rank count)."""
    res = {"size": ctx.size, "load_before": os.getloadavg()}
    res["stream"] = stream(ctx, args.stream_mib * 2**20 // 8, args.repeats)
    cases = {"full": (args.nv, args.nx), "chu": (args.chu_nv, args.chu_nx)}
    res["kernels"] = {}
    for mode, (n, nx) in cases.items():
        layout = CellLayout.make(mode, n, 8.0)
        res["kernels"][mode] = {"dof": layout.dof, "strong": {}, "weak": {}}
        strong = kernels(ctx, layout, nx // ctx.size, args.repeats)
        weak = strong if ctx.size == 2 else kernels(ctx, layout, nx // 2, args.repeats)
        res["kernels"][mode]["strong"] = {"nx_local": nx // ctx.size, **strong}
        res["kernels"][mode]["weak"] = {"nx_local": nx // 2, **weak}
    res["native"] = {}
    for mode, (n, nx) in cases.items():
        if args.native:
            layout = CellLayout.make(mode, n, 8.0)
            got = native_kernels(ctx, layout, nx // ctx.size, args.repeats)
            if got is not None:
                res["native"][mode] = got
    res["spectral"] = {str(n): spectral(ctx, n, args.angles, args.fsm_cells, 3)
                       for n in args.fsm_n}
    res["solver"] = {f"{mode}-{coll}": {"dof": CellLayout.make(mode, n, 8.0).dof, "nx": nx,
                                        **solver_step(ctx, mode, n, nx, coll, 3)}
                     for mode, n, nx, coll in SOLVER_CASES(args)}
    res["load_after"] = os.getloadavg()
    return res


def mupd(dof, nx_local, size, seconds):
    """Aggregate million cell-velocity updates per second."""
    return dof * nx_local * size / seconds / 1e6


def print_run(res):
    """Figures of one run."""
    size = res["size"]
    bw = res["stream"]
    print(f"== {size} rank(s); load average before {res['load_before']}, "
          f"after {res['load_after']}")
    print(f"   memory bandwidth (all ranks): triad {bw['triad']:.1f} GB/s (numpy 2-pass "
          f"{bw['triad_2pass']:.1f}), add {bw['add']:.1f} GB/s, copy {bw['copy']:.1f} GB/s")
    for mode, k in res["kernels"].items():
        for kind in ("strong", "weak"):
            if kind == "weak" and size == 2:
                continue
            r = k[kind]
            for kernel in ("transport", "bgk"):
                m = mupd(k["dof"], r["nx_local"], size, r[kernel])
                gbs = m * 1e6 * BYTES_PER_UPDATE[kernel] / 1e9
                print(f"   {kernel:9s} {mode:4s} nx/rank {r['nx_local']:6d} dof {k['dof']:6d}: "
                      f"{r[kernel] * 1e3:8.2f} ms  {m:8.1f} Mupd/s  {gbs:5.2f} GB/s at "
                      f"{BYTES_PER_UPDATE[kernel]} B/upd = {100 * gbs / bw['triad']:4.1f} % of "
                      "triad")
    for mode, r in res["native"].items():
        k = res["kernels"][mode]
        for kernel in ("transport", "bgk"):
            if kernel in r:
                m = mupd(k["dof"], k["strong"]["nx_local"], size, r[kernel])
                gbs = m * 1e6 * BYTES_PER_UPDATE[kernel] / 1e9
                print(f"   {kernel:9s} {mode:4s} native C kernel:   {r[kernel] * 1e3:8.2f} ms "
                      f"{m:8.1f} Mupd/s  {gbs:5.2f} GB/s = {100 * gbs / bw['triad']:4.1f} % of "
                      f"triad (max relative difference from numpy {r[kernel + '_diff']:.1e})")
    for n, t in res["spectral"].items():
        if t is not None:
            print(f"   FSM collide N={n}: {t * 1e3:8.1f} ms per call")
    for name, r in res["solver"].items():
        for which in SOLVER_KINDS:
            if which in r:
                print(f"   solver step {name} ({which}, nx {r['nx']}, dof {r['dof']}): "
                      f"{r[which] * 1e3:8.2f} ms  "
                      f"{mupd(r['dof'], r['nx'], 1, r[which]):7.1f} Mupd/s")


def tables(runs, args):
    """Markdown tables over the runs (1 and 2 ranks)."""
    by = {r["size"]: r for r in runs}
    print("\n| ranks | triad GB/s | triad, numpy 2 passes | add GB/s | copy GB/s | "
          "load before / after |")
    print("|---|---|---|---|---|---|")
    for size, r in sorted(by.items()):
        s = r["stream"]
        print(f"| {size} | {s['triad']:.1f} | {s['triad_2pass']:.1f} | {s['add']:.1f} | "
              f"{s['copy']:.1f} | "
              f"{r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} |")
    print("\n| kernel | mode | ranks | cells/rank | Mupd/s | GB/s (B/upd) | share of triad |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("full", "chu"):
        for kernel in ("transport", "bgk"):
            for size, r in sorted(by.items()):
                k = r["kernels"][mode]
                s = k["strong"]
                m = mupd(k["dof"], s["nx_local"], size, s[kernel])
                gbs = m * 1e6 * BYTES_PER_UPDATE[kernel] / 1e9
                print(f"| {kernel} | {mode} (dof {k['dof']}) | {size} | {s['nx_local']} | "
                      f"{m:.1f} | {gbs:.2f} ({BYTES_PER_UPDATE[kernel]}) | "
                      f"{100 * gbs / r['stream']['triad']:.0f} % |")
    for mode in ("full", "chu"):
        for kernel in ("transport", "bgk"):
            for size, r in sorted(by.items()):
                fr = r["native"].get(mode, {})
                if kernel not in fr:
                    continue
                k = r["kernels"][mode]
                m = mupd(k["dof"], k["strong"]["nx_local"], size, fr[kernel])
                gbs = m * 1e6 * BYTES_PER_UPDATE[kernel] / 1e9
                print(f"| {kernel}, native C | {mode} (dof {k['dof']}) | {size} | "
                      f"{k['strong']['nx_local']} | {m:.1f} | {gbs:.2f} "
                      f"({BYTES_PER_UPDATE[kernel]}) | {100 * gbs / r['stream']['triad']:.0f} % |")
    if 1 in by and 2 in by:
        scaling_tables(by)
    spectral_table(by)


def scaling_tables(by):
    """Strong (fixed global nx) and weak (fixed nx per rank) scaling, 1 -> 2 ranks."""
    print("\n| kernel | mode | strong: 1 rank | 2 ranks | speed-up | efficiency | "
          "weak: 1 rank | 2 ranks | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in ("full", "chu"):
        for kernel in ("transport", "bgk"):
            one, two = by[1]["kernels"][mode], by[2]["kernels"][mode]
            s1, s2 = one["strong"][kernel], two["strong"][kernel]
            w1, w2 = one["weak"][kernel], two["weak"][kernel]
            print(f"| {kernel} | {mode} | {s1 * 1e3:.1f} ms | {s2 * 1e3:.1f} ms | "
                  f"{s1 / s2:.2f} | {s1 / s2 / 2:.2f} | {w1 * 1e3:.1f} ms | "
                  f"{w2 * 1e3:.1f} ms | {w1 / w2:.2f} |")
    for name in by[1]["solver"]:
        r1, r2 = by[1]["solver"][name], by[2]["solver"].get(name, {})
        if "petsc" in r1 and "petsc" in r2:
            print(f"| solver step (PETSc) | {name} | {r1['petsc'] * 1e3:.1f} ms | "
                  f"{r2['petsc'] * 1e3:.1f} ms | {r1['petsc'] / r2['petsc']:.2f} | "
                  f"{r1['petsc'] / r2['petsc'] / 2:.2f} | | | |")
    print("\n| whole step (SSP-RK2 transport + BGK) | nx | dof | ranks | solver | ms | Mupd/s |")
    print("|---|---|---|---|---|---|---|")
    for name in by[1]["solver"]:
        for size, r in sorted(by.items()):
            sr = r["solver"][name]
            for which in SOLVER_KINDS:
                if which in sr:
                    print(f"| {name} | {sr['nx']} | {sr['dof']} | {size} | {which} | "
                          f"{sr[which] * 1e3:.1f} | "
                          f"{mupd(sr['dof'], sr['nx'], 1, sr[which]):.1f} |")


def spectral_table(by):
    """FSM cost per cell against N^3 log N."""
    r1 = by.get(1) or next(iter(by.values()))
    rows = [(int(n), t) for n, t in r1["spectral"].items() if t is not None]
    if not rows:
        print("\nFSM: hpcml.kinetic.spectral not installed")
        return
    print("\n| N | ranks | ms per cell | Mupd/s | ms / (N^3 log2 N) x 1e6 |")
    print("|---|---|---|---|---|")
    for size, r in sorted(by.items()):
        cells = r["fsm_cells"]
        for n, t in sorted((int(n), t) for n, t in r["spectral"].items()):
            per_cell = t / cells * 1e3
            print(f"| {n} | {size} | {per_cell:.2f} | {n**3 * cells * size / t / 1e6:.2f} | "
                  f"{per_cell / (n**3 * np.log2(n)) * 1e6:.3f} |")


def kernel_versions():
    """Short SHA-1 of each timed kernel's source (which version was measured)."""
    import hpcml.kinetic.bgk as bgk
    import hpcml.kinetic.transport as transport
    from hpcml.kinetic import native

    out = {}
    for path in (transport.__file__, bgk.__file__, str(native.SOURCE)):
        with open(path, "rb") as fh:
            out[os.path.basename(path)] = hashlib.sha1(fh.read()).hexdigest()[:10]
    return out


def relaunch(nps, argv):
    """Run this script under mpirun for each rank count; return each run's figures."""
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        sys.exit("bench_kinetic: needs mpirun on PATH")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in nps:
            out = os.path.join(tmp, f"np{n}.json")
            cmd = [mpirun, "--oversubscribe", "-n", str(n), sys.executable, __file__, *argv,
                   "--json-out", out]
            print("running:", " ".join(cmd), flush=True)
            subprocess.run(cmd, env=env, check=True)
            with open(out) as fh:
                runs.append(json.load(fh))
    return runs


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=256, help="global cells, full mode")
    parser.add_argument("--nv", type=int, default=32, help="velocity points per direction, full")
    parser.add_argument("--chu-nx", type=int, default=65536, help="global cells, chu mode")
    parser.add_argument("--chu-nv", type=int, default=64, help="velocity points, chu mode")
    parser.add_argument("--fsm-n", type=lambda s: [int(v) for v in s.split(",")],
                        default=[16, 24, 32], help="FSM grid sizes")
    parser.add_argument("--fsm-cells", type=int, default=2, help="cells per rank per FSM call")
    parser.add_argument("--angles", type=int, default=16)
    parser.add_argument("--stream-mib", type=int, default=256, help="MiB per triad array")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--np", default="1,2", help="rank counts when started without mpirun")
    parser.add_argument("--no-native", dest="native", action="store_false",
                        help="skip the native C kernels (hpcml/kinetic/native)")
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if not under_mpi_launcher():
        runs = relaunch([int(n) for n in args.np.split(",")], sys.argv[1:])
        print(f"\nbench_kinetic: {len(runs)} run(s), full nv {args.nv} nx {args.nx}, chu nv "
              f"{args.chu_nv} nx {args.chu_nx}; bytes per update {BYTES_PER_UPDATE}; "
              f"kernel sources {kernel_versions()}")
        tables(runs, args)
        return
    ctx = Context.create()
    res = measure(ctx, args)
    res["fsm_cells"] = args.fsm_cells
    if ctx.is_root:
        print_run(res)
        if args.json_out:
            with open(args.json_out, "w") as fh:
                json.dump(res, fh)


if __name__ == "__main__":
    main()
