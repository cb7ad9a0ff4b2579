"""The moment solver: exact Riemann solution, conservation, boundaries, stiff relaxation,
RKL2, the kinetic solver at small Knudsen numbers, and the DMDA twin on one rank."""

import numpy as np
import pytest

from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import random_mixture, smooth_wave, sod
from hpcml.kinetic.solver import KineticSolver, Problem
from hpcml.kinetic.solver import TimeOptions as KineticOptions
from hpcml.moments.rkl2 import coefficients, rkl2_step, stages_for
from hpcml.moments.solver import MomentProblem, MomentSolveError, MomentSolver, TimeOptions
from hpcml.testing.analytic import euler_riemann, euler_star

CLOSURES = ("euler", "ns", "grad")
SOD = ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1))


def solve(closure, nx, eps=1e-3, t_end=0.2, data="sod", boundary=("outflow", "outflow"),
          options=None, **kw):
    s = MomentSolver(MomentProblem(closure, nx, eps=eps, boundary=boundary, **kw), options)
    x = s.problem.cell_centres()
    if data == "sod":
        s.set_state(*sod(x))
    elif data == "wave":
        s.set_state(*smooth_wave(x, seed=1)[:3])
    else:
        s.set_state(*random_mixture(x, seed=4, n_jumps=3)[:3])
    summary = s.run(t_end)
    return s, summary


def test_euler_converges_to_the_exact_riemann_solution():
    """L1 density error about halves with each doubling of nx (first order through the
    shock), and the shock sits at the exact position."""
    errors = []
    for nx in (100, 200, 400):
        s, _ = solve("euler", nx)
        rho_exact, u_exact, _ = euler_riemann(s.x, 0.2, *SOD)
        rho = s.moments()["rho"]
        errors.append(np.abs(rho - rho_exact).mean())
        shock = s.x[np.flatnonzero(rho > 0.5 * (0.125 + euler_star(*SOD).rho_right))[-1]]
        assert abs(shock - 0.8689) < 2.0 / nx
    assert errors[0] / errors[1] > 1.6 and errors[1] / errors[2] > 1.6, errors
    assert errors[-1] < 3e-3


@pytest.mark.parametrize("closure", CLOSURES)
@pytest.mark.parametrize("flux", ["rusanov", "hll"])
@pytest.mark.parametrize("eps", [1e-3, 1.0])
def test_periodic_conservation_to_round_off(closure, flux, eps):
    for data in ("wave", "mixture"):
        _, summary = solve(closure, 64, eps=eps, t_end=0.1, data=data,
                           boundary=("periodic", "periodic"), options=TimeOptions(flux=flux))
        assert max(summary["conservation"].values()) < 1e-12, summary["conservation"]


@pytest.mark.parametrize("closure", CLOSURES)
@pytest.mark.parametrize("boundary", [("outflow", "outflow"), ("wall", "inflow"),
                                      ("inflow", "wall"), ("wall", "wall")])
def test_boundary_fluxes_are_accounted(closure, boundary):
    inflow = tuple((0.5, -0.3, 1.2) if b == "inflow" else None for b in boundary)
    s, summary = solve(closure, 48, eps=1e-2, t_end=0.1, boundary=boundary, inflow=inflow)
    assert max(summary["conservation"].values()) < 1e-12, summary["conservation"]
    if boundary == ("wall", "wall"):     # nothing crosses a specular wall: mass and energy
        assert np.abs(s.boundary_loss[[0, 2]]).max() < 1e-14
        drift = np.abs(s.totals() - s.initial_totals)[[0, 2]] / s.initial_totals[[0, 2]]
        assert drift.max() < 1e-13


def test_stiff_relaxation_does_not_restrict_the_step():
    """Grad at eps = 1e-8: the same step as at eps = 1, W stays at its Maxwellian value, and
    the solution is the Euler one (the asymptotic-preserving limit)."""
    steps = {}
    for eps in (1e-8, 1.0):
        first = MomentSolver(MomentProblem("grad", 100, eps=eps))
        first.set_state(*sod(first.x))
        steps[eps] = first.max_dt()
    assert steps[1e-8] == steps[1.0]
    stiff, summary = solve("grad", 100, eps=1e-8)
    assert summary["steps"] < 200                              # dt ~ dx / speed, not eps
    prim = stiff.closure.primitive(stiff.q)
    p = prim[:, 0] * prim[:, 2]
    assert np.abs(prim[:, 3]).max() < 1e-6 * p.max()          # sigma ~ eps
    euler, _ = solve("euler", 100)
    rho_exact = euler_riemann(stiff.x, 0.2, *SOD)[0]
    err_grad = np.abs(stiff.moments()["rho"] - rho_exact).mean()
    err_euler = np.abs(euler.moments()["rho"] - rho_exact).mean()
    assert err_grad < 1.6 * err_euler, (err_grad, err_euler)


def kinetic_sod(eps, nx=100, nv=64, t_end=0.2):
    s = KineticSolver(Problem(CellLayout.make("chu", nv, 6.5), nx, eps=eps),
                      KineticOptions(cfl=0.45))
    s.set_state(*sod(s.x))
    s.run(t_end)
    return s.moments()


def l1(a, b):
    return np.abs(a - b).sum() / np.abs(b).sum()


def test_moment_solutions_approach_the_kinetic_one():
    """eps = 1e-3: Euler and NS agree closely with the kinetic solver; eps = 1e-2: NS is
    closer to it than Euler (density, velocity and temperature)."""
    kin = kinetic_sod(1e-3)
    for closure in ("euler", "ns"):
        m = solve(closure, 100, eps=1e-3)[0].moments()
        assert max(l1(m[k], kin[k]) for k in ("rho", "T")) < 0.02, closure
    kin = kinetic_sod(1e-2)
    errors = {c: solve(c, 100, eps=1e-2)[0].moments() for c in ("euler", "ns")}
    for key in ("rho", "u", "T"):
        assert l1(errors["ns"][key], kin[key]) < 0.7 * l1(errors["euler"][key], kin[key]), key


def test_ns_tends_to_euler_and_needs_viscous_stages():
    ns, summary = solve("ns", 100, eps=1e-6)
    euler, _ = solve("euler", 100)
    assert np.abs(ns.moments()["rho"] - euler.moments()["rho"]).max() < 1e-3
    assert summary["viscous_stages"] == 2 * summary["steps"]     # s = 2: no extra cost
    _, summary = solve("ns", 100, eps=1.0)
    assert summary["viscous_stages"] > 10 * summary["steps"]


def test_non_physical_state_stops_with_place_and_time():
    s = MomentSolver(MomentProblem("grad", 100, eps=10.0))
    s.set_state(*sod(s.x, left=(1.0, 2.0, 1.0), right=(0.01, -2.0, 0.01)))
    with pytest.raises(MomentSolveError, match=r"at x = .* at t = .* after \d+ steps") as exc:
        s.run(0.1)
    assert 0 < exc.value.t < 0.1 and 0.3 < exc.value.x < 0.7
    s = MomentSolver(MomentProblem("euler", 10))
    s.set_state(*sod(s.x))
    s.q[7, 2] = -1.0
    with pytest.raises(MomentSolveError, match=r"non-positive temperature .* x = 0.75 \(cell 7\)"):
        s.run(0.1)


def test_cfl_above_the_bound_is_clamped(caplog):
    s = MomentSolver(MomentProblem("euler", 20), TimeOptions(cfl=3.0))
    assert s.cfl() == 0.5 and "exceeds the bound" in caplog.text
    with pytest.raises(ValueError, match="flux"):
        TimeOptions(flux="roe")


def test_rkl2_is_second_order_and_stable():
    nx, d = 64, 1.0
    x = (np.arange(nx) + 0.5) / nx

    def rate(y):
        g = np.concatenate([y[-1:], y, y[:1]])
        flux = -d * np.diff(g, axis=0) * nx
        return -np.diff(flux, axis=0) * nx, np.zeros(1)

    explicit = 0.5 / (nx * nx * d)
    lam = -d * (2 * nx * np.sin(np.pi / nx)) ** 2             # the discrete decay rate
    for ratio in (1.0, 10.0, 100.0):
        s = stages_for(ratio)                                   # the fewest that are stable
        assert (s * s + s - 2) / 4 >= ratio and (s == 2 or ((s - 1) ** 2 + s - 3) / 4 < ratio)
        errors = []
        for k in (1, 2):
            y = np.sin(2 * np.pi * x)[:, None].copy()
            bufs = tuple(np.empty_like(y) for _ in range(3))
            for _ in range(4 * k):
                rkl2_step(y, ratio * explicit / k, s, rate, bufs)
            errors.append(np.abs(y[:, 0] - np.exp(lam * 4 * ratio * explicit)
                                 * np.sin(2 * np.pi * x)).max())
        assert errors[0] / errors[1] > 3.5, (ratio, errors)
        y = np.cos(np.pi * np.arange(nx))[:, None] * 1.0        # the stiffest mode
        for _ in range(20):
            rkl2_step(y, 0.9 * stages_for(ratio) ** 2 / 4 * explicit, stages_for(ratio), rate,
                      bufs)
        assert np.abs(y).max() <= 1.0
    assert coefficients(2)[0][2] == pytest.approx(1 / 3)


def test_one_rank_twin_is_identical(ctx):
    pytest.importorskip("petsc4py")
    from hpcml.moments.petsc.solver import PetscMomentSolver

    for closure, boundary in (("euler", ("outflow", "outflow")), ("ns", ("periodic", "periodic")),
                              ("grad", ("wall", "inflow"))):
        problem = MomentProblem(closure, 40, eps=1e-2, boundary=boundary,
                                inflow=(None, (0.5, -0.2, 1.0)))
        a, b = MomentSolver(problem), PetscMomentSolver(problem, None, ctx)
        for s in (a, b):
            data = smooth_wave(s.x, seed=2, domain=(0, 1)) if problem.periodic else sod(s.x)
            s.set_state(*data[:3])
            s.run(0.05)
        np.testing.assert_array_equal(a.q, b.q)
        b.destroy()
