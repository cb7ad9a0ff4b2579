"""The DMDA kinetic solver on N ranks against the serial reference on one."""

import numpy as np
import pytest

from hpcml.cli.main import main
from hpcml.io.hdf5.kinetic import read_moments
from hpcml.kinetic.collision import spectral_available
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import smooth_wave, sod
from hpcml.kinetic.petsc.options import kinetic_options, time_options
from hpcml.kinetic.petsc.solver import PetscKineticSolver
from hpcml.kinetic.solver import KineticSolver, Problem
from hpcml.parallel import parallel_assert

CASES = {
    "sod-outflow-bgk": dict(mode="chu", nv=24, boundary=("outflow", "outflow"), eps=1e-3),
    "periodic-wave": dict(mode="chu", nv=24, boundary=("periodic", "periodic"), eps=1e-1),
    "wall-inflow-minmod": dict(mode="chu", nv=24, boundary=("wall", "inflow"), eps=1e-2,
                               limiter="minmod"),
    "sod-full-grid": dict(mode="full", nv=8, boundary=("outflow", "outflow"), eps=1e-2),
    "sod-boltzmann": dict(mode="full", nv=8, boundary=("outflow", "outflow"), eps=1e-2,
                          collision="boltzmann"),
}


def make_problem(mode, nv, boundary, eps, limiter="mc", nx=24, collision="bgk"):
    lay = CellLayout.make(mode, nv, 6.0)
    inflow = (None, (0.5, -0.2, 1.0)) if boundary[1] == "inflow" else (None, None)
    return Problem(lay, nx, eps=eps, boundary=boundary, inflow=inflow, limiter=limiter,
                   collision=collision)


def initial(problem, x):
    if problem.periodic:
        rho, u, T, _ = smooth_wave(problem.cell_centres(), seed=3)
        sl = slice(int(round((x[0] - problem.xmin) / problem.dx - 0.5)), None)
        return rho[sl][: x.size], u[sl][: x.size], T[sl][: x.size]
    return sod(x)


def compare_to_serial(ctx, problem, options, ref_options, kernels=None):
    """Run ``problem`` to t = 0.05 on the DMDA solver and serially on rank 0; f must agree
    to 1e-12 (relative) and be conserved to 1e-13; with ``kernels``, the DMDA run's
    transport kernels must be those."""
    par = PetscKineticSolver(problem, options, ctx)
    par.set_state(*initial(problem, par.x))
    summary = par.run(0.05, n_outputs=2)
    f = par.gather(par.f)
    ok, msg = True, ""
    if kernels is not None:
        ok, msg = summary["kernels"]["transport"] == kernels, f"kernels {summary['kernels']}"
    if ctx.is_root and ok:
        ref = KineticSolver(problem, ref_options)
        ref.set_state(*initial(problem, ref.x))
        ref.run(0.05, n_outputs=2)
        err = np.abs(f - ref.f).max() / np.abs(ref.f).max()
        ok, msg = err < 1e-12, f"{ctx.size} ranks vs serial: max relative difference {err:.3g}"
    parallel_assert(ctx, ok, msg)
    parallel_assert(ctx, max(summary["conservation"].values()) < 1e-13,
                    f"conservation drift {summary['conservation']}")
    par.destroy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_ranks_match_serial(ctx, case):
    if CASES[case].get("collision") == "boltzmann" and not spectral_available():
        pytest.skip("no hpcml.kinetic.spectral")
    compare_to_serial(ctx, make_problem(**CASES[case]), None, None)


def test_too_many_ranks_is_an_error(ctx):
    if ctx.size < 2:
        pytest.skip("needs 2 ranks")
    problem = make_problem("chu", 8, ("outflow", "outflow"), 1.0, nx=2 * ctx.size - 1)
    with pytest.raises(ValueError, match="use fewer ranks"):
        PetscKineticSolver(problem, None, ctx)


def test_cli_writes_the_serial_moments(ctx, mpi_tmp_path):
    """`hpcml kinetic` on N ranks: every rank writes its slab of the one HDF5 file."""
    cfg = mpi_tmp_path / "k.yaml"
    out = mpi_tmp_path / "m.h5"
    if ctx.is_root:
        cfg.write_text(f"kinetic: {{nx: 32, velocity: {{n: 16}}, t_end: 0.04, outputs: 2, "
                       f"snapshots: true, out: {out}}}\n")
    ctx.comm.barrier()
    rc = main(["kinetic", str(cfg), "-kinetic_ts_cfl", "0.4"])
    parallel_assert(ctx, rc == 0, f"rc {rc}")
    ok, msg = True, ""
    if ctx.is_root:
        m = read_moments(out)
        with kinetic_options({"ts_cfl": 0.4}):
            opts = time_options()
        lay = CellLayout.make("chu", 16, 6.5)
        problem = Problem(lay, 32, eps=1e-4)
        ref = KineticSolver(problem, opts)
        ref.set_state(*sod(ref.x))
        ref.run(0.04, n_outputs=2)      # the same steps as the job's two output intervals
        want = ref.moments()
        err = max(np.abs(m[k][-1] - want[k]).max() for k in ("rho", "u", "T", "q", "P"))
        err_f = np.abs(m["f"][-1] - ref.f.reshape(32, -1)).max()
        ok = err < 1e-12 and err_f < 1e-12 and m["rho"].shape == (3, 32)
        msg = f"file vs serial: moments {err:.3g}, f {err_f:.3g}, shape {m['rho'].shape}"
    parallel_assert(ctx, ok, msg)


@pytest.mark.parametrize("case", ["sod-outflow-bgk", "sod-full-grid"])
def test_native_kernels_on_ranks_match_numpy_serial(ctx, case):
    """The DMDA solver with the fused C kernels against the serial numpy reference."""
    from hpcml.kinetic import native
    from hpcml.kinetic.solver import TimeOptions

    if native.load() is None:
        pytest.skip(f"native kernels unavailable: {native.last_error()}")
    compare_to_serial(ctx, make_problem(**CASES[case]), TimeOptions(kernels="native"),
                      TimeOptions(kernels="numpy"), kernels="native")
