"""The DMDA moment solver on N ranks against the serial reference on one."""

import numpy as np
import pytest

from hpcml.cli.main import main
from hpcml.io.hdf5.kinetic import read_moments
from hpcml.kinetic.initial import random_mixture, smooth_wave, sod
from hpcml.moments.petsc.solver import PetscMomentSolver
from hpcml.moments.solver import MomentProblem, MomentSolver, TimeOptions
from hpcml.parallel import parallel_assert

CASES = {
    "euler-sod-outflow": dict(closure="euler", boundary=("outflow", "outflow"), eps=1e-3),
    "ns-periodic-wave": dict(closure="ns", boundary=("periodic", "periodic"), eps=1e-1),
    "ns-wall-inflow": dict(closure="ns", boundary=("wall", "inflow"), eps=1e-2),
    "grad-wall-inflow-minmod": dict(closure="grad", boundary=("wall", "inflow"), eps=1e-2,
                                    limiter="minmod"),
    "grad-periodic-mixture-hll": dict(closure="grad", boundary=("periodic", "periodic"),
                                      eps=1.0, flux="hll"),
}


def make(case, nx=32):
    kw = dict(CASES[case])
    flux = kw.pop("flux", "rusanov")
    inflow = (None, (0.5, -0.2, 1.0)) if kw["boundary"][1] == "inflow" else (None, None)
    return MomentProblem(nx=nx, inflow=inflow, **kw), TimeOptions(flux=flux)


def initial(case, problem, x):
    if not problem.periodic:
        return sod(x)
    gen = smooth_wave if "wave" in case else random_mixture
    rho, u, T, _ = gen(problem.cell_centres(), seed=3)
    start = int(round((x[0] - problem.xmin) / problem.dx - 0.5))
    return rho[start:start + x.size], u[start:start + x.size], T[start:start + x.size]


@pytest.mark.parametrize("case", sorted(CASES))
def test_ranks_match_serial(ctx, case):
    """The state on N ranks equals the serial one to 1e-12 (relative), conserved to 1e-13."""
    problem, options = make(case)
    par = PetscMomentSolver(problem, options, ctx)
    par.set_state(*initial(case, problem, par.x))
    summary = par.run(0.05, n_outputs=2)
    q = par.gather(par.q)
    ok, msg = True, ""
    if ctx.is_root:
        ref = MomentSolver(problem, options)
        ref.set_state(*initial(case, problem, ref.x))
        ref_summary = ref.run(0.05, n_outputs=2)
        err = np.abs(q - ref.q).max() / np.abs(ref.q).max()
        ok = err < 1e-12 and summary["steps"] == ref_summary["steps"]
        msg = (f"{ctx.size} ranks vs serial: max relative difference {err:.3g}, steps "
               f"{summary['steps']} vs {ref_summary['steps']}")
    parallel_assert(ctx, ok, msg)
    parallel_assert(ctx, max(summary["conservation"].values()) < 1e-13,
                    f"conservation drift {summary['conservation']}")
    par.destroy()


def test_too_many_ranks_is_an_error(ctx):
    if ctx.size < 2:
        pytest.skip("needs 2 ranks")
    with pytest.raises(ValueError, match="use fewer ranks"):
        PetscMomentSolver(MomentProblem("euler", 2 * ctx.size - 1), None, ctx)


def test_cli_writes_the_serial_moments(ctx, mpi_tmp_path):
    """`hpcml moments solve` on N ranks: one HDF5 file equal to the serial solution."""
    cfg = mpi_tmp_path / "m.yaml"
    out = mpi_tmp_path / "m.h5"
    if ctx.is_root:
        cfg.write_text(f"moments: {{closure: ns, knudsen: 0.01, nx: 32, t_end: 0.04, "
                       f"outputs: 2, out: {out}}}\n")
    ctx.comm.barrier()
    rc = main(["moments", "solve", str(cfg), "-moments_ts_cfl", "0.4"])
    parallel_assert(ctx, rc == 0, f"rc {rc}")
    ok, msg = True, ""
    if ctx.is_root:
        m = read_moments(out)
        ref = MomentSolver(MomentProblem("ns", 32, eps=0.01), TimeOptions(cfl=0.4))
        ref.set_state(*sod(ref.x))
        ref.run(0.04, n_outputs=2)
        want = ref.moments()
        err = max(np.abs(m[k][-1] - want[k]).max() for k in ("rho", "u", "T", "q", "P"))
        ok = err < 1e-12 and m["rho"].shape == (3, 32) and m["attrs"]["ranks"] == ctx.size
        msg = f"file vs serial: moments {err:.3g}, shape {m['rho'].shape}"
    parallel_assert(ctx, ok, msg)
