"""Limited second-order upwind transport: positivity, order, boundaries."""

import numpy as np
import pytest

from hpcml.kinetic.bgk import maxwellian_from_state
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.moments import conserved
from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions
from hpcml.kinetic.transport import CFL_LIMIT, transport_step


def periodic_ghosts(f):
    return np.concatenate([f[-2:], f, f[:2]])


@pytest.mark.parametrize("limiter", ["mc", "minmod"])
def test_positivity_at_the_cfl_limit(limiter):
    rng = np.random.default_rng(1)
    vx = np.array([-2.0, -0.5, 0.3, 2.0])
    f = rng.random((64, 4)) ** 8          # rough, with near-zero values
    f[10:20] = 0.0
    nu = CFL_LIMIT[limiter] / 2.0         # max|vx| dt/dx = limit
    mass = f.sum(0)
    for _ in range(200):
        f1 = transport_step(periodic_ghosts(f), vx, nu, limiter)
        f2 = transport_step(periodic_ghosts(f1), vx, nu, limiter)
        f = 0.5 * (f + f2)
        assert f.min() >= 0.0
    np.testing.assert_allclose(f.sum(0), mass, rtol=1e-13)


def test_constant_state_is_kept():
    vx = np.array([-1.0, 1.0])
    f = np.full((8, 2), 3.0)
    np.testing.assert_allclose(transport_step(periodic_ghosts(f), vx, 0.4), f, rtol=1e-15)


def advect_sine(nx, limiter):
    vx = np.array([1.0])
    x = (np.arange(nx) + 0.5) / nx
    f = (1.5 + np.sin(2 * np.pi * x))[:, None]
    nu = 0.4
    steps = int(round(1.0 / (nu / nx)))   # once around
    for _ in range(steps):
        f1 = transport_step(periodic_ghosts(f), vx, nu, limiter)
        f = 0.5 * (f + transport_step(periodic_ghosts(f1), vx, nu, limiter))
    exact = 1.5 + (np.cos(2 * np.pi * (x - 0.5 / nx)) - np.cos(2 * np.pi * (x + 0.5 / nx))) \
        / (2 * np.pi / nx)
    return np.abs(f[:, 0] - exact).mean()


def test_second_order_on_smooth_data():
    e1, e2 = advect_sine(50, "mc"), advect_sine(100, "mc")
    assert e2 < e1 / 3.0, (e1, e2)    # ~2nd order away from the extrema
    assert advect_sine(100, "minmod") < advect_sine(50, "minmod") / 2.5


@pytest.mark.parametrize("mode", ["chu", "full"])
def test_specular_walls_conserve_mass_and_energy(mode):
    lay = CellLayout.make(mode, 24 if mode == "chu" else 12, 6.0)
    prob = Problem(lay, 16, eps=1e3, boundary=("wall", "wall"))
    s = KineticSolver(prob)
    x = s.x
    s.set_state(1 + 0.5 * np.sin(2 * np.pi * x), 0.3 * np.cos(np.pi * x), 1 + 0.2 * x)
    c0 = s.totals()
    s.run(0.3)
    c1 = s.totals()
    assert abs(c1[0] - c0[0]) < 1e-14 * c0[0]
    assert abs(c1[4] - c0[4]) < 1e-14 * c0[4]
    assert s.f.min() >= 0


def test_inflow_and_outflow_bookkeeping():
    """Mass, momentum and energy change only by what crossed the ends."""
    lay = CellLayout.make("chu", 32, 6.0)
    prob = Problem(lay, 20, eps=1e-2, boundary=("inflow", "outflow"),
                   inflow=((2.0, 0.5, 1.0), None))
    s = KineticSolver(prob)
    s.set_state(1.0, 0.0, 1.0)
    summary = s.run(0.2)
    assert max(summary["conservation"].values()) < 1e-13, summary
    # the inflow state fills the domain from the left
    assert s.moments()["rho"][0] > 1.5


def test_cfl_above_the_limit_is_reduced(caplog):
    lay = CellLayout.make("chu", 16, 5.0)
    s = KineticSolver(Problem(lay, 10), TimeOptions(cfl=0.9))
    with caplog.at_level("WARNING"):
        dt = s.max_dt()
    assert "exceeds the positivity limit" in caplog.text
    assert dt == pytest.approx(CFL_LIMIT["mc"] * 0.1 / np.abs(lay.grid.v).max())


def test_maxwellian_in_equilibrium_stays():
    lay = CellLayout.make("full", 10, 6.0)
    f = maxwellian_from_state(np.ones(6), 0.3, 1.0, lay)
    g = transport_step(periodic_ghosts(f), lay.vx, 0.2)
    np.testing.assert_allclose(conserved(g, lay), conserved(f, lay), rtol=1e-13, atol=1e-15)
