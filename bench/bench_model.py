"""DeepPot-SE speed: training step and inference, fast path vs autograd path.

Run::

    python bench/bench_model.py [--repeats 7] [--threads 2]

Model: DeePMD-kit's water hyper-parameters (:class:`DeepPotSpec` defaults),
192-atom water frame of the embedded sample; 1536 atoms is that cell
replicated 2x2x2.  Figures:

- training step (energy + force loss, ``create_graph=True``, one backward,
  Adam step), batch of 1 frame, float64 and float32;
- inference (energy + forces, ``torch.no_grad``), microseconds per atom per
  step, model call alone and with the neighbour list + batch built;
- start-up to the end of the first training step (model, neighbour list,
  one step);
- with ``--kernels``: the fast path with its C kernels against the same
  path with its torch kernels (``HPCML_DEEPPOT_KERNELS``), taking turns;
- with ``--compile``: the same start-up with ``HPCML_DEEPPOT_COMPILE=1`` in a
  fresh process, with an empty and then a warm inductor cache
  (``TORCHINDUCTOR_CACHE_DIR``), and the training step and inference with the
  compiled embedding kernels against the eager ones (taking turns).

Each figure is the median of ``--repeats`` calls after two warm-up calls; the
fast path (``model.fast = True``) and the autograd path take turns call by
call, so load changes hit both.  Each is printed as a ratio against the
DeePMD-kit 3.2.0 figures of DESIGN.md and against the autograd path of the
same run.  The machine is shared: the load average is printed.  No thresholds.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from hpcml.io import read_any
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.testing.data import embedded_water

DEEPMD = {"train": {"float64": 0.181, "float32": 0.103},
          192: {"float64": 418.0, "float32": 245.0},
          1536: {"float64": 618.0, "float32": 361.0}}


def make_model(precision):
    model = DeepPot(DeepPotSpec(precision=precision))
    model.descriptor.set_stats(torch.tensor([[0.1, 0, 0, 0], [0.2, 0, 0, 0]]),
                               torch.tensor([[0.5, 0.3, 0.3, 0.3], [0.6, 0.2, 0.2, 0.2]]))
    model.bias_atom_e.copy_(torch.tensor([-94.0, -47.0]))
    return model


def interleaved(fn, repeats):
    """Median seconds of ``fn(fast)`` for fast in (True, False), taking turns."""
    times = {True: [], False: []}
    for i in range(repeats + 2):
        for fast in (True, False):
            t0 = time.perf_counter()
            fn(fast)
            if i >= 2:
                times[fast].append(time.perf_counter() - t0)
    return statistics.median(times[True]), statistics.median(times[False])


def train_step_fn(model, frame):
    batch = model.make_batch([frame["coord"]], [frame["cell"]], [frame["atype"]])
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    force = batch.to_sorted_order(torch.as_tensor(frame["force"], dtype=model.dtype))
    energy = float(frame["energy"])
    natoms = batch.n_atoms

    def step(fast):
        model.fast = fast
        out = model(batch, create_graph=True)
        loss = 0.02 * (out["energy"][0] - energy) ** 2 / natoms \
            + 1000.0 * ((out["force"] - force) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def infer_fn(model, coord, cell, atype, with_nlist):
    batch = model.make_batch([coord], [cell], [atype])

    def call(fast):
        model.fast = fast
        b = model.make_batch([coord], [cell], [atype]) if with_nlist else batch
        if fast:
            with torch.no_grad():
                model(b)
        else:
            model(b)
    return call


def startup_seconds(env):
    """Seconds from a fresh interpreter to the end of the first training step."""
    code = ("import time; t0 = time.perf_counter()\n"
            "import sys; sys.path.insert(0, 'bench')\n"
            "import torch; torch.set_num_threads(int(sys.argv[1]))\n"
            "from bench_model import make_model, train_step_fn\n"
            "from hpcml.io import read_any\n"
            "from hpcml.testing.data import embedded_water\n"
            "frame = read_any(embedded_water()).frame(0)\n"
            "train_step_fn(make_model('float64'), frame)(True)\n"
            "print(time.perf_counter() - t0)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, str(torch.get_num_threads())],
                         cwd=root, env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def compile_figures(frame, repeats):
    """Start-up with torch.compile (cold and warm cache); compiled vs eager kernels."""
    from hpcml.molecular import fast

    with tempfile.TemporaryDirectory() as cache:
        env = {"HPCML_DEEPPOT_COMPILE": "1", "TORCHINDUCTOR_CACHE_DIR": cache}
        cold = startup_seconds(env)
        warm = startup_seconds(env)
    plain = startup_seconds({"HPCML_DEEPPOT_COMPILE": "0"})
    print(f"start-up to first training step, float64: eager {plain:.2f} s, compiled "
          f"{cold:.2f} s (empty cache), {warm:.2f} s (warm cache) (DeePMD-kit 9 s)")
    model = make_model("float64")
    model.fast = True
    coord, cell, atype = frame["coord"], frame["cell"], frame["atype"]
    for what, fn in (("training step", train_step_fn(model, frame)),
                     ("inference 192 atoms", infer_fn(model, coord, cell, atype, False))):
        def call(compiled, fn=fn):
            fast.set_compile(compiled)
            fn(True)
        on, off = interleaved(call, repeats)
        print(f"{what + ', float64, compiled kernels':44s} compiled {on * 1e3:8.1f} ms  "
              f"eager {off * 1e3:8.1f} ms  compiled/eager {on / off:5.2f}")
    fast.set_compile(False)


def kernel_figures(frame, big, repeats):
    """The fast path with the C kernels against the same path with torch kernels."""
    from hpcml.molecular import slots

    if slots.load() is None:
        print(f"C kernels unavailable ({slots.last_error()}): no kernel figures")
        return
    coord, cell, atype = frame["coord"], frame["cell"], frame["atype"]
    for precision in ("float64", "float32"):
        model = make_model(precision)
        model.fast = True
        cases = (("training step, 192 atoms", train_step_fn(model, frame), 1, "ms", 1e3),
                 ("inference 192 atoms, model", infer_fn(model, coord, cell, atype, False),
                  192, "us/atom", 1e6),
                 ("inference 1536 atoms, model", infer_fn(model, *big, False), 1536,
                  "us/atom", 1e6))
        for what, fn, per, unit, scale in cases:
            def call(native, fn=fn):
                slots.set_kernels("native" if native else "torch")
                fn(True)
            on, off = interleaved(call, repeats)
            print(f"{what + ', ' + precision:44s} C {on / per * scale:9.1f} {unit}  "
                  f"torch {off / per * scale:9.1f} {unit}  C/torch {on / off:5.2f}")
    slots.set_kernels()


def line(name, fast, slow, deepmd, unit, scale):
    print(f"{name:44s} fast {fast * scale:9.1f} {unit}  autograd {slow * scale:9.1f} {unit}  "
          f"fast/autograd {fast / slow:5.2f}  fast/DeePMD-kit {fast * scale / deepmd:5.2f} "
          f"(DeePMD-kit {deepmd} {unit})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("train", "infer"), default=None,
                        help="run only the training or only the inference figures")
    parser.add_argument("--compile", action="store_true",
                        help="also measure torch.compile of the embedding kernels")
    parser.add_argument("--kernels", action="store_true",
                        help="also measure the fast path's C kernels against its torch "
                        "kernels (HPCML_DEEPPOT_KERNELS)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = read_any(embedded_water())
    frame = frames.frame(0)
    print(f"threads {args.threads}, repeats {args.repeats}, torch {torch.__version__}")
    print("load average at start", os.getloadavg())

    t0 = time.perf_counter()
    model = make_model("float64")
    first = train_step_fn(model, frame)
    first(True)
    print(f"start-up to first training step (fast path, float64): "
          f"{time.perf_counter() - t0:.2f} s (DeePMD-kit 9 s)")

    for precision in ("float64", "float32") if args.only != "infer" else ():
        step = train_step_fn(make_model(precision), frame)
        fast, slow = interleaved(step, args.repeats)
        line(f"training step, 192 atoms, {precision}", fast, slow,
             DEEPMD["train"][precision] * 1e3, "ms", 1e3)

    coord, cell, atype = frame["coord"], frame["cell"], frame["atype"]
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)])
    big = (np.concatenate([coord + s @ cell for s in shifts]), 2 * cell, np.tile(atype, 8))
    for precision in ("float64", "float32") if args.only != "train" else ():
        model = make_model(precision)
        for natoms, system in ((192, (coord, cell, atype)), (1536, big)):
            for with_nlist in (False, True):
                fast, slow = interleaved(infer_fn(model, *system, with_nlist), args.repeats)
                what = "model + neighbour list" if with_nlist else "model"
                line(f"inference {natoms} atoms {precision}, {what}", fast / natoms,
                     slow / natoms, DEEPMD[natoms][precision], "us/atom", 1e6)
    if args.compile:
        compile_figures(frame, args.repeats)
    if args.kernels:
        kernel_figures(frame, big, args.repeats)
    print("load average at end", os.getloadavg())


if __name__ == "__main__":
    main()
