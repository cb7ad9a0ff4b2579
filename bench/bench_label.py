"""Labeling throughput with real CP2K: frames per hour and runner overhead.

    python bench/bench_label.py [--molecules 8 32] [--frames 4] [--tasks-per-rank 2] [--pbe]

Water boxes of 8 and 32 molecules cut from the embedded water frames
(:func:`hpcml.label.samples.water_box`) are labeled with GFN1-xTB through the
whole driver (input writing, CP2K subprocess, parsing, markers, store).
Reported per size: wall time per frame, frames per hour on this machine with
``--tasks-per-rank`` concurrent CP2K processes of OMP_NUM_THREADS=1, and the
runner overhead, (task time - CP2K time) / CP2K time.  ``--pbe`` adds one
PBE-D3/DZVP timing per ``--pbe-molecules`` size (8: about a minute).  The load average is
printed: the machine is shared.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from hpcml.config import parse_config
from hpcml.label import label_frames
from hpcml.label.samples import water_box
from hpcml.parallel import Context

REPO = Path(__file__).resolve().parents[1]


def run(n_molecules, n_frames, tasks, template=None, threads=1):
    frames = water_box(n_molecules, list(range(n_frames)))
    with tempfile.TemporaryDirectory() as tmp:
        label = {"workdir": f"{tmp}/work", "out": f"{tmp}/labeled.h5", "timeout": 7200,
                 "tasks_per_rank": tasks, "threads_per_task": threads, "scratch": "delete"}
        if template:
            label["template"] = str(template)
        section = parse_config({"label": label}).label
        start = time.perf_counter()
        summary = label_frames(Context.create(serial=True), section, frames)
        wall = time.perf_counter() - start
    assert summary.n_labeled == n_frames, summary
    return {"molecules": n_molecules, "atoms": 3 * n_molecules, "frames": n_frames,
            "method": summary.method, "wall_s": wall, "s_per_frame": wall / n_frames,
            "frames_per_hour": 3600 * n_frames / wall,
            "cp2k_s_per_task": summary.cp2k_seconds / n_frames,
            "overhead": summary.overhead}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--molecules", type=int, nargs="+", default=[8, 32])
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--tasks-per-rank", type=int, default=2)
    p.add_argument("--pbe", action="store_true")
    p.add_argument("--pbe-molecules", type=int, nargs="+", default=[8],
                   help="box sizes for --pbe (32 molecules: minutes per frame)")
    p.add_argument("--pbe-threads", type=int, default=1,
                   help="OpenMP threads of the one CP2K process of each --pbe size")
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    run(2, 1, 1)  # warm-up: CP2K schema cache, input writer
    rows = [run(n, args.frames, args.tasks_per_rank) for n in args.molecules]
    if args.pbe:
        rows += [run(n, 1, 1, REPO / "inputs" / "cp2k" / "pbe-d3.inp", args.pbe_threads)
                 for n in args.pbe_molecules]
    print(f"{'method':<28} {'mol':>4} {'atoms':>5} {'frames':>6} {'s/frame':>8} "
          f"{'frames/h':>9} {'CP2K s/task':>11} {'overhead':>9}")
    for r in rows:
        print(f"{r['method']:<28} {r['molecules']:>4} {r['atoms']:>5} {r['frames']:>6} "
              f"{r['s_per_frame']:>8.2f} {r['frames_per_hour']:>9.0f} "
              f"{r['cp2k_s_per_task']:>11.2f} {r['overhead']:>9.2%}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
