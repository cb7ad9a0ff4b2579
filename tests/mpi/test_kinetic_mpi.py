"""The DMDA kinetic solver on N ranks against the serial reference on one."""

import numpy as np
import pytest

from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import smooth_wave, sod
from hpcml.kinetic.petsc.solver import PetscKineticSolver
from hpcml.kinetic.solver import KineticSolver, Problem
from hpcml.parallel import parallel_assert

CASES = {
    "sod-outflow-bgk": dict(mode="chu", nv=24, boundary=("outflow", "outflow"), eps=1e-3),
    "periodic-wave": dict(mode="chu", nv=24, boundary=("periodic", "periodic"), eps=1e-1),
    "wall-inflow-minmod": dict(mode="chu", nv=24, boundary=("wall", "inflow"), eps=1e-2,
                               limiter="minmod"),
    "sod-full-grid": dict(mode="full", nv=8, boundary=("outflow", "outflow"), eps=1e-2),
}


def make_problem(mode, nv, boundary, eps, limiter="mc", nx=24):
    lay = CellLayout.make(mode, nv, 6.0)
    inflow = (None, (0.5, -0.2, 1.0)) if boundary[1] == "inflow" else (None, None)
    return Problem(lay, nx, eps=eps, boundary=boundary, inflow=inflow, limiter=limiter)


def initial(problem, x):
    if problem.periodic:
        rho, u, T, _ = smooth_wave(problem.cell_centres(), seed=3)
        sl = slice(int(round((x[0] - problem.xmin) / problem.dx - 0.5)), None)
        return rho[sl][: x.size], u[sl][: x.size], T[sl][: x.size]
    return sod(x)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ranks_match_serial(ctx, case):
    problem = make_problem(**CASES[case])
    par = PetscKineticSolver(problem, None, ctx)
    par.set_state(*initial(problem, par.x))
    summary = par.run(0.05, n_outputs=2)
    f = par.gather(par.f)
    ok, msg = True, ""
    if ctx.is_root:
        ref = KineticSolver(problem)
        ref.set_state(*initial(problem, ref.x))
        ref.run(0.05, n_outputs=2)
        err = np.abs(f - ref.f).max() / np.abs(ref.f).max()
        ok, msg = err < 1e-12, f"{ctx.size} ranks vs serial: max relative difference {err:.3g}"
    parallel_assert(ctx, ok, msg)
    parallel_assert(ctx, max(summary["conservation"].values()) < 1e-13,
                    f"conservation drift {summary['conservation']}")
    par.destroy()


def test_too_many_ranks_is_an_error(ctx):
    if ctx.size < 2:
        pytest.skip("needs 2 ranks")
    problem = make_problem("chu", 8, ("outflow", "outflow"), 1.0, nx=2 * ctx.size - 1)
    with pytest.raises(ValueError, match="use fewer ranks"):
        PetscKineticSolver(problem, None, ctx)
