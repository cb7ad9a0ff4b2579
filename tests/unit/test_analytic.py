"""Exact solutions of hpcml.testing.analytic: anchors, invariants and limits."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from hpcml.testing.analytic import (
    bkw,
    bkw_dfdt,
    euler_riemann,
    euler_star,
    free_flow_riemann,
)

SOD_L, SOD_R = (1.0, 0.0, 1.0), (0.125, 0.0, 0.1)


def grid(n, vmax, dim=3):
    """Velocity grid as agreed for hpcml.kinetic.grid.VelocityGrid (cell centres)."""
    h = 2 * vmax / n
    return SimpleNamespace(n=n, vmax=vmax, dim=dim, h=h, v=-vmax + (np.arange(n) + 0.5) * h)


# --- Euler ------------------------------------------------------------------------------

def test_sod_anchors_of_design():
    star = euler_star(SOD_L, SOD_R, gamma=5 / 3)
    assert round(star.p, 5) == 0.29395
    assert round(star.u, 5) == 0.84119
    assert round(star.rho_left, 5) == 0.47969
    assert round(star.rho_right, 5) == 0.22981
    assert round(star.right_speeds[0], 5) == 1.84447
    assert not star.left_shock and star.right_shock
    x = np.linspace(0.0, 1.0, 200001)
    rho, u, p = euler_riemann(x, 0.2, SOD_L, SOD_R)
    shock = x[np.argmax(rho < 0.5 * (star.rho_right + 0.125))]
    assert abs(shock - 0.8689) < 5e-5
    assert np.all(rho > 0) and np.all(p > 0)


@pytest.mark.parametrize("left, right, expected", [
    # Toro, Riemann Solvers and Numerical Methods, table 4.3 (gamma = 1.4): p*, u*, rhoL*, rhoR*
    ((1, 0, 1), (0.125, 0, 0.1), (0.30313, 0.92745, 0.42632, 0.26557)),
    ((1, -2, 0.4), (1, 2, 0.4), (0.00189, 0.0, 0.02185, 0.02185)),        # 123: two rarefactions
    ((1, 0, 1000), (1, 0, 0.01), (460.894, 19.5975, 0.57506, 5.99924)),   # strong shock
    ((1, 0, 0.01), (1, 0, 100), (46.0950, -6.19633, 5.99242, 0.57511)),
    ((5.99924, 19.5975, 460.894), (5.99242, -6.19633, 46.0950),
     (1691.64, 8.68975, 14.2823, 31.0426)),                                # two shocks
])
def test_toro_star_states(left, right, expected):
    star = euler_star(left, right, gamma=1.4)
    got = (star.p, star.u, star.rho_left, star.rho_right)
    for g, e in zip(got, expected):
        assert g == pytest.approx(e, rel=2e-5, abs=1e-5)


def fluxes(rho, u, p, gamma, speed):
    """Conserved variables and Euler fluxes in the frame moving at `speed`."""
    w = u - speed
    energy = p / (gamma - 1) + 0.5 * rho * w * w
    return np.array([rho * w, rho * w * w + p, (energy + p) * w])


@pytest.mark.parametrize("left, right, gamma", [
    (SOD_L, SOD_R, 5 / 3), ((1, 0, 1000), (1, 0, 0.01), 1.4),
    ((5.99924, 19.5975, 460.894), (5.99242, -6.19633, 46.0950), 1.4)])
def test_sampled_shocks_satisfy_rankine_hugoniot(left, right, gamma):
    star = euler_star(left, right, gamma)
    t = 0.01
    for shock, speed, sign in ((star.left_shock, star.left_speeds[0], -1),
                               (star.right_shock, star.right_speeds[0], 1)):
        if not shock:
            continue
        eps = 1e-9 * max(1.0, abs(speed))
        x = 0.5 + speed * t + np.array([-eps, eps])
        rho, u, p = euler_riemann(x, t, left, right, gamma)
        a, b = fluxes(rho[0], u[0], p[0], gamma, speed), fluxes(rho[1], u[1], p[1], gamma, speed)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(a).max())
        assert rho[int(sign < 0)] > rho[int(sign > 0)]          # compressive: denser behind


def test_rarefaction_fan_is_isentropic_with_constant_invariant():
    left, right, gamma = (1, -2, 0.4), (1, 2, 0.4), 1.4
    star = euler_star(left, right, gamma)
    t = 0.15
    head, tail = star.left_speeds
    x = 0.5 + t * np.linspace(head, tail, 101)[1:-1]
    rho, u, p = euler_riemann(x, t, left, right, gamma)
    a = np.sqrt(gamma * p / rho)
    assert np.allclose(p / rho**gamma, left[2] / left[0] ** gamma, rtol=1e-12)
    assert np.allclose(u + 2 * a / (gamma - 1), left[1] + 2 * math.sqrt(gamma * 0.4) / 0.4,
                       rtol=1e-12)
    assert np.allclose(u - a, (x - 0.5) / t, atol=1e-12)       # C- characteristics fan out
    assert np.all(np.diff(rho) < 0)


def test_euler_continuity_and_conservation_sod():
    """Total mass/momentum/energy change only by the boundary fluxes."""
    gamma, t = 5 / 3, 0.2
    x = np.linspace(-0.5, 1.5, 400001)
    rho, u, p = euler_riemann(x, t, SOD_L, SOD_R, gamma)
    energy = p / (gamma - 1) + 0.5 * rho * u * u
    dx = x[1] - x[0]
    assert np.sum(rho) * dx == pytest.approx(1.125, abs=2e-5)
    assert np.sum(rho * u) * dx == pytest.approx(t * (1.0 - 0.1), abs=2e-5)
    assert np.sum(energy) * dx == pytest.approx(1.5 * 1.1, abs=2e-5)


def test_euler_initial_data_and_bad_input():
    x = np.array([0.2, 0.7])
    rho, u, p = euler_riemann(x, 0.0, SOD_L, SOD_R)
    assert rho.tolist() == [1.0, 0.125] and p.tolist() == [1.0, 0.1]
    with pytest.raises(ValueError, match="vacuum"):
        euler_star((1, -10, 0.4), (1, 10, 0.4), 1.4)
    with pytest.raises(ValueError, match="positive"):
        euler_star((1, 0, -1), SOD_R)
    with pytest.raises(ValueError, match="t = "):
        euler_riemann(x, -1.0, SOD_L, SOD_R)


# --- collisionless Riemann problem -----------------------------------------------------

MOVING_L, MOVING_R = (1.0, 0.3, 1.0), (0.2, -0.5, 0.05)


def test_free_flow_conserves_with_boundary_fluxes():
    """Over [-L, L] + x0 the totals change only by the (Maxwellian) end fluxes."""
    t, half = 0.5, 8.0
    x = np.linspace(0.5 - half, 0.5 + half, 32001)
    rho, u, temp = free_flow_riemann(x, t, MOVING_L, MOVING_R)
    energy = 0.5 * rho * u * u + 1.5 * rho * temp
    total = [np.trapz(q, x) for q in (rho, rho * u, energy)]
    ends = []
    for r, v, p in (MOVING_L, MOVING_R):
        e = 0.5 * r * v * v + 1.5 * p
        ends.append(((r, r * v, e), (r * v, r * v * v + p, (e + p) * v)))
    (cl, fl), (cr, fr) = ends
    for k in range(3):
        expected = half * (cl[k] + cr[k]) + t * (fl[k] - fr[k])
        assert total[k] == pytest.approx(expected, rel=1e-7, abs=1e-7)


def test_free_flow_small_time_is_the_initial_data():
    x = np.array([0.1, 0.4, 0.49, 0.51, 0.6, 0.9])
    rho, u, temp, q = free_flow_riemann(x, 1e-4, MOVING_L, MOVING_R, heat_flux=True)
    left = x < 0.5
    assert np.allclose(rho, np.where(left, 1.0, 0.2), rtol=1e-12)
    assert np.allclose(u, np.where(left, 0.3, -0.5), rtol=1e-12)
    assert np.allclose(temp, np.where(left, 1.0, 0.25), rtol=1e-12)
    assert np.allclose(q, 0.0, atol=1e-12)
    rho0, *_ = free_flow_riemann(x, 0.0, MOVING_L, MOVING_R)
    assert np.array_equal(rho0, np.where(left, 1.0, 0.2))


def test_free_flow_differs_from_euler_and_is_smooth():
    """Collisionless Sod has no shock: smooth, monotone density, distinct from Euler."""
    x = np.linspace(0, 1, 2001)
    rho, u, temp = free_flow_riemann(x, 0.2, SOD_L, SOD_R)
    rho_e, _, _ = euler_riemann(x, 0.2, SOD_L, SOD_R)
    assert np.all(np.diff(rho) < 0)
    assert np.abs(np.diff(rho)).max() < 0.01
    assert np.abs(rho - rho_e).max() > 0.05
    assert np.all(temp > 0)


@pytest.mark.parametrize("dim", [1, 3])
def test_semi_discrete_converges_to_the_continuous_solution(dim):
    x = np.linspace(0.0, 1.0, 401)
    exact = free_flow_riemann(x, 0.2, SOD_L, SOD_R, heat_flux=True)
    errors = []
    for n in (12, 24, 48, 96, 192):
        semi = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=grid(n, 6.0, dim), heat_flux=True)
        errors.append(max(np.abs(s - e).max() for s, e in zip(semi, exact)))
    assert all(b < 0.7 * a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.02
    rho_semi = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=grid(192, 6.0, dim))[0]
    assert np.abs(rho_semi - exact[0]).max() < 0.01            # DESIGN: dv 0.0625 -> 0.01


def test_semi_discrete_fine_grid_checks_heat_flux_and_moving_states():
    """Brute-force quadrature in v_x (fine grid, point values) against the erf closed form."""
    x = np.linspace(-0.5, 1.5, 81)
    exact = free_flow_riemann(x, 0.3, MOVING_L, MOVING_R, heat_flux=True)
    semi = free_flow_riemann(x, 0.3, MOVING_L, MOVING_R, vgrid=grid(4000, 8.0, 1),
                             heat_flux=True)
    for s, e in zip(semi, exact):
        assert np.abs(s - e).max() < 2e-3


def test_semi_discrete_transverse_sums_match_chu_reduction():
    x = np.linspace(0.0, 1.0, 51)
    one = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=grid(40, 6.0, 1), heat_flux=True)
    three = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=grid(40, 6.0, 3), heat_flux=True)
    for a, b in zip(one, three):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-6)


def test_semi_discrete_cell_averages():
    """Cell averages are the means of point values over each cell, and keep the totals."""
    dx, t = 0.02, 0.2
    centres = np.arange(0.5 * dx, 1.0, dx)
    vg = grid(32, 6.0, 1)
    rho_avg, u_avg, _ = free_flow_riemann(centres, t, SOD_L, SOD_R, vgrid=vg, dx=dx)
    sub = (centres[:, None] + dx * ((np.arange(2000) + 0.5) / 2000 - 0.5)).ravel()
    rho_pt, u_pt, _ = free_flow_riemann(sub, t, SOD_L, SOD_R, vgrid=vg)
    mean = (rho_pt.reshape(len(centres), -1)).mean(axis=1)
    mom = (rho_pt * u_pt).reshape(len(centres), -1).mean(axis=1)
    assert np.allclose(rho_avg, mean, atol=1e-4)
    assert np.allclose(rho_avg * u_avg, mom, atol=1e-4)
    with pytest.raises(ValueError, match="vgrid"):
        free_flow_riemann(centres, t, SOD_L, SOD_R, dx=dx)


def test_semi_discrete_accepts_the_solver_velocity_grid():
    mod = pytest.importorskip("hpcml.kinetic.grid")
    vg = mod.VelocityGrid(24, 6.0, 3)
    x = np.linspace(0, 1, 11)
    ours = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=grid(24, 6.0, 3))
    theirs = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=vg)
    for a, b in zip(ours, theirs):
        assert np.allclose(a, b, rtol=1e-13)


# --- BKW ---------------------------------------------------------------------------------

def radial_moments(fn, t, n=20000, vmax=14.0):
    """int fn dv and int |v|^2 fn dv over R^3 for a radial fn(|v|^2, t)."""
    r = (np.arange(n) + 0.5) * vmax / n
    w = 4 * np.pi * r * r * vmax / n
    val = fn(r * r, t)
    return float(np.sum(w * val)), float(np.sum(w * r * r * val)), val


@pytest.mark.parametrize("t", [5.5, 6.5, 12.0])
def test_bkw_moments_and_positivity(t):
    mass, energy, f = radial_moments(bkw, t)
    assert mass == pytest.approx(1.0, rel=1e-10)
    assert energy == pytest.approx(3.0, rel=1e-10)                # unit temperature
    assert np.all(f >= 0)
    dmass, denergy, _ = radial_moments(bkw_dfdt, t)
    assert abs(dmass) < 1e-10 and abs(denergy) < 1e-10          # Q conserves mass and energy


@pytest.mark.parametrize("t", [5.5, 6.5, 20.0])
def test_bkw_dfdt_matches_finite_difference(t):
    v2 = np.linspace(0.0, 30.0, 301)
    dt = 1e-4
    fd = (bkw(v2, t + dt) - bkw(v2, t - dt)) / (2 * dt)
    exact = bkw_dfdt(v2, t)
    assert np.abs(fd - exact).max() < 1e-8 * max(1.0, np.abs(exact).max()) + 1e-10
    assert np.abs(exact).max() > 1e-5


def test_bkw_relaxes_to_the_maxwellian():
    v2 = np.linspace(0.0, 20.0, 50)
    maxwell = np.exp(-0.5 * v2) / (2 * np.pi) ** 1.5
    assert np.allclose(bkw(v2, 200.0), maxwell, atol=1e-14)
    assert np.abs(bkw_dfdt(v2, 200.0)).max() < 1e-14
    assert bkw(np.array(0.0), 6 * math.log(2.5) - 0.1) < 0          # K < 3/5: not a density


@pytest.mark.parametrize("dim", [1, 3])
def test_semi_discrete_from_the_solver_discrete_maxwellian(dim):
    """maxwellian='discrete' starts from hpcml.kinetic.bgk's moment-matched Maxwellians."""
    pytest.importorskip("hpcml.kinetic.bgk")
    x = np.array([0.1, 0.3, 0.7, 0.9])
    coarse = grid(10, 4.0, dim)                          # h = 0.8: sampled moments are off
    rho_d, u_d, t_d = free_flow_riemann(x, 1e-9, MOVING_L, MOVING_R, vgrid=coarse,
                                        maxwellian="discrete")
    rho_s, _, _ = free_flow_riemann(x, 1e-9, MOVING_L, MOVING_R, vgrid=coarse)
    left = x < 0.5
    assert np.allclose(rho_d, np.where(left, 1.0, 0.2), rtol=1e-12)
    assert np.allclose(u_d, np.where(left, 0.3, -0.5), rtol=1e-12)
    assert np.allclose(t_d, np.where(left, 1.0, 0.25), rtol=1e-12)
    assert np.abs(rho_s - rho_d).max() > 1e-6
    fine = grid(64, 6.0, dim)
    a = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=fine, maxwellian="discrete")
    b = free_flow_riemann(x, 0.2, SOD_L, SOD_R, vgrid=fine)
    for p, q in zip(a, b):
        assert np.allclose(p, q, rtol=1e-6)              # box tails exp(-vmax^2/2) ~ 1e-8
