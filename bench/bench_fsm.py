"""Cost of the fast spectral Boltzmann operator against N^3 log N, one thread.

Times ``SpectralBoltzmann.collide`` on a batch of ``--cells`` cells (BKW
data of DESIGN.md, perturbed per cell) for each ``N`` of ``--sizes``, with
``--angles`` directions, the box ``L = (3 + sqrt 2)/2 S`` of ``S = 4`` and
``R = 2 S``.  Each figure is the median of ``--repeats`` calls (after one
warm-up call); the calls of all sizes take turns round by round, so that
changes of the machine's load hit them all.  Printed per N:

- time per cell and per cell-velocity point (``cells * N^3``);
- ``time / (N^3 log N)`` as a ratio to the smallest N (flat = N^3 log N);
- the cost per cell in units of one real FFT pair (``rfftn`` + ``irfftn``)
  of one cell measured in the same run: the method does ``2 M + 2`` real
  FFTs, i.e. ``M + 1`` pairs, so this shows the overhead beyond the FFTs;
- the BKW error ``max |Q(f) - df/dt|`` at t = 6.5 (one cell).

With ``--sigma-sizes``, the constant-kernel operator (sigma representation,
``n_radial = N/2`` radial nodes) is timed on one cell in the same rounds and
reported as a ratio to the Carleman operator at the same N.

Then the exponent ``p`` of a least-squares fit ``time ~ N^p`` and the fit of
``time / (N^3 log N)``; and the batched vs single-cell time per cell at the
largest N.  One thread throughout (``scipy.fft`` workers=1, OMP_NUM_THREADS=1).
No thresholds: this prints figures.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from hpcml.kinetic import spectral  # noqa: E402
from hpcml.kinetic.spectral import SpectralBoltzmann  # noqa: E402
from hpcml.kinetic.spectral_sigma import SigmaSpectralBoltzmann  # noqa: E402
from hpcml.testing.analytic import bkw, bkw_dfdt  # noqa: E402

S = 4.0
L = (3.0 + math.sqrt(2.0)) / 2.0 * S
T_BKW = 6.5


def once(fn):
    """Wall time of one call of ``fn()`` (s)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bkw_batch(op, cells, seed=0):
    v = op.v
    v2 = v[:, None, None] ** 2 + v[None, :, None] ** 2 + v[None, None, :] ** 2
    rng = np.random.default_rng(seed)
    f = bkw(v2, T_BKW) * (1 + 0.01 * rng.random((cells,) + v2.shape))
    return f, v2


def setup(n, args, cls=SpectralBoltzmann):
    start = time.perf_counter()
    op = cls(n, L, args.angles, workers=1)
    row = {"n": n, "setup": time.perf_counter() - start, "op": op}
    row["f"], v2 = bkw_batch(op, args.cells)
    row["err"] = np.abs(op.collide(bkw(v2, T_BKW)) - bkw_dfdt(v2, T_BKW)).max()
    row["calls"] = {"single": lambda: op.collide(row["f"][0])}
    if cls is SpectralBoltzmann:
        row["calls"]["sec"] = lambda: op.collide(row["f"])
        row["calls"]["fft"] = lambda: op._irfft(op._rfft(row["f"][0]))
    return row


def measure(rows, repeats):
    """Median times, the calls of all sizes interleaved round by round (load changes hit all)."""
    for row in rows:
        for fn in row["calls"].values():
            fn()                                            # warm-up
        row["times"] = {key: [] for key in row["calls"]}
    for _ in range(repeats):
        for row in rows:
            for key, fn in row["calls"].items():
                row["times"][key].append(once(fn))
    for row in rows:
        row.update({key: statistics.median(t) for key, t in row["times"].items()})


def report(rows, args):
    base = rows[0]["sec"] / (rows[0]["n"] ** 3 * math.log(rows[0]["n"]))
    print(f"{'N':>4s} {'setup/s':>8s} {'ms/cell':>9s} {'ns/point':>9s} "
          f"{'t/(N3logN) rel':>15s} {'FFT pairs':>10s} {'BKW err':>9s}")
    for r in rows:
        n, per_cell = r["n"], r["sec"] / args.cells
        rel = r["sec"] / (n**3 * math.log(n)) / base
        print(f"{n:4d} {r['setup']:8.2f} {1e3 * per_cell:9.3f} {1e9 * per_cell / n**3:9.1f} "
              f"{rel:15.2f} {per_cell / r['fft']:10.1f} {r['err']:9.2e}")
    ns = np.array([r["n"] for r in rows], float)
    secs = np.array([r["sec"] for r in rows])
    slope = np.polyfit(np.log(ns), np.log(secs), 1)[0]
    big = rows[-1]["n"] >= 24
    sub = [r for r in rows if r["n"] >= 16] if big else rows
    slope_big = np.polyfit(np.log([r["n"] for r in sub]), np.log([r["sec"] for r in sub]), 1)[0]
    print(f"fitted exponent time ~ N^p: p = {slope:.2f} over all N, {slope_big:.2f} for N >= 16 "
          f"(N^3 log N between N = 16 and 48 is ~ N^3.3)")
    print(f"FFT pairs expected: M + 1 = {args.angles + 1} (gain: M pairs, loss: one pair)")


def batching(row, args):
    one, many = row["single"], row["sec"] / args.cells
    print(f"N = {row['n']}: single cell {1e3 * one:.2f} ms, batched ({args.cells} cells) "
          f"{1e3 * many:.2f} ms per cell: batching speed-up {one / many:.2f}x")


def report_sigma(rows, sigma_rows):
    carleman = {r["n"]: r["single"] for r in rows}
    print("constant kernel b = 1/(4 pi), sigma representation, n_radial = N/2, one cell:")
    print(f"{'N':>4s} {'setup/s':>8s} {'ms/cell':>9s} {'vs Carleman':>12s} {'BKW err':>9s}")
    for r in sigma_rows:
        ratio = r["single"] / carleman[r["n"]] if r["n"] in carleman else float("nan")
        print(f"{r['n']:4d} {r['setup']:8.2f} {1e3 * r['single']:9.2f} {ratio:11.1f}x "
              f"{r['err']:9.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,16,24,32,48")
    parser.add_argument("--angles", type=int, default=16)
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sigma-sizes", default="16,24,32",
                        help="sizes for the constant-kernel operator ('' to skip)")
    args = parser.parse_args()
    backend = "scipy.fft" if spectral._HAVE_SCIPY_FFT else "numpy.fft"
    print(f"bench_fsm: M = {args.angles} angles, {args.cells} cells per call, {backend}, "
          f"1 thread, median of {args.repeats}; load average before {os.getloadavg()}",
          flush=True)
    rows = [setup(int(n), args) for n in args.sizes.split(",")]
    sigma_rows = [setup(int(n), args, SigmaSpectralBoltzmann)
                  for n in args.sigma_sizes.split(",") if n]
    measure(rows + sigma_rows, args.repeats)
    report(rows, args)
    batching(rows[-1], args)
    if sigma_rows:
        report_sigma(rows, sigma_rows)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
