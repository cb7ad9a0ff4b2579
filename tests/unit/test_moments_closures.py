"""Closures of the moment solver against quadrature, the kinetic solver and each other."""

import numpy as np
import pytest

from hpcml.kinetic.bgk import maxwellian_from_state
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import smooth_wave
from hpcml.kinetic.moments import conserved
from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions
from hpcml.moments.closure import CLOSURES, Closure, make_closure
from hpcml.moments.grad import GradClosure, flux_jacobian, grad_conserved, spectrum_bounds
from hpcml.moments.navier_stokes import NavierStokesClosure


def grad_states(n, seed=0):
    """Random primitive states (rho, u, T, sigma, q) within Grad's table range."""
    rng = np.random.default_rng(seed)
    prim = np.stack([rng.uniform(0.1, 3, n), rng.uniform(-2, 2, n), rng.uniform(0.2, 3, n),
                     np.zeros(n), np.zeros(n)], 1)
    p = prim[:, 0] * prim[:, 2]
    prim[:, 3] = rng.uniform(-0.9, 1.9, n) * p
    prim[:, 4] = rng.uniform(-3.9, 3.9, n) * p * np.sqrt(prim[:, 2])
    return prim


def grad_quadrature(prim, n=64, vmax=12.0):
    """Moments (rho, m, E, W1, W2) and (G1, G2) of Grad's distribution by 3D quadrature."""
    rho, u, T, sigma, q = prim
    v = -vmax + (np.arange(n) + 0.5) * (2 * vmax / n)
    vx, vy, vz = np.meshgrid(v, v, v, indexing="ij")
    cx = vx - u
    c2 = cx**2 + vy**2 + vz**2
    p = rho * T
    m = rho * (2 * np.pi * T) ** -1.5 * np.exp(-c2 / (2 * T))
    stress = sigma * (cx**2 - 0.5 * (vy**2 + vz**2))          # sigma_ij c_i c_j
    f = m * (1 + stress / (2 * p * T) + q * cx * (c2 / (5 * T) - 1) / (p * T))
    w = (2 * vmax / n) ** 3
    e = 0.5 * (vx**2 + vy**2 + vz**2)
    weights = [1, vx, e, vx**2, vx * e]
    state = np.array([(k * f).sum() * w for k in weights])
    flux = np.array([(vx * k * f).sum() * w for k in weights])
    return state, flux


@pytest.mark.parametrize("rho, u, T, s, r", [(0.8, 0.3, 1.2, 0.25, 0.4),
                                             (1.5, -0.7, 0.6, -0.5, -1.2),
                                             (0.4, 1.0, 1.4, 1.5, 3.0)])
def test_grad_flux_is_the_moments_of_grads_distribution(rho, u, T, s, r):
    """sigma = s p and q = r p sqrt(T): F, G and the state against 3D quadrature."""
    p = rho * T
    prim = np.array([[rho, u, T, s * p, r * p * np.sqrt(T)]])
    state, flux = grad_quadrature(prim[0])
    closure = GradClosure(1.0)
    q = closure.conserved(prim)
    np.testing.assert_allclose(q[0], state, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(closure.flux(q, prim)[0], flux, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(closure.primitive(q), prim, rtol=1e-12, atol=1e-13)


def test_equilibrium_moments_are_the_maxwellians():
    """W of every closure at equilibrium equals the discrete Maxwellian's moments; the
    conserved fluxes of all closures agree there (Euler's)."""
    rho, u, T = np.array([0.7, 1.3]), np.array([-0.4, 0.9]), np.array([0.6, 1.8])
    lay = CellLayout.make("chu", 400, 12.0)
    f = maxwellian_from_state(rho, u, T, lay)
    v, h = lay.grid.v, lay.grid.weight
    g, hh = f[:, 0], f[:, 1]
    w1 = (g * v**2).sum(1) * h
    w2 = ((g * 0.5 * v**2 + hh) * v).sum(1) * h
    fluxes = {}
    for name in CLOSURES:
        c = make_closure(name, 1e-2)
        q = c.equilibrium(rho, u, T)
        np.testing.assert_allclose(q[:, :3], conserved(f, lay)[:, [0, 1, 4]], rtol=1e-12)
        fluxes[name] = c.flux(q, c.primitive(q))[:, :3]
        if name == "grad":
            np.testing.assert_allclose(q[:, 3], w1, rtol=1e-12)
            np.testing.assert_allclose(q[:, 4], w2, rtol=1e-12)
            np.testing.assert_allclose(c.source(q), 0.0, atol=1e-14)
    for name in CLOSURES:
        np.testing.assert_allclose(fluxes[name], fluxes["euler"], rtol=1e-13)


def test_grad_speeds_at_equilibrium_are_grads():
    """1D Grad-13 characteristic speeds: u, u -+ 0.6297 c, u -+ 1.6503 c, c = sqrt(5/3 T)."""
    c = GradClosure(1.0)
    q = c.equilibrium(np.array([2.0]), np.array([0.5]), np.array([3.0]))
    lam = np.sort(np.linalg.eigvals(flux_jacobian(q))[0].real)
    sound = np.sqrt(5 / 3 * 3.0)
    np.testing.assert_allclose((lam - 0.5) / sound, [-1.6503, -0.6297, 0, 0.6297, 1.6503],
                               atol=1e-4)


def test_grad_speed_table_bounds_the_spectrum():
    prim = grad_states(4000, seed=5)
    c = GradClosure(1.0)
    q = c.conserved(prim)
    lo, hi = c.wave_speeds(q, prim)
    elo, ehi = spectrum_bounds(q)
    root = np.sqrt(prim[:, 2])
    assert (hi >= ehi - 1e-9).all() and (lo <= elo + 1e-9).all()
    assert ((hi - ehi) / root).max() < 0.3 and ((elo - lo) / root).max() < 0.3
    # outside the table (|q| > 4 p sqrt(T)): the exact eigenvalues
    prim[:10, 4] = 6.0 * prim[:10, 0] * prim[:10, 2] * root[:10]
    q = c.conserved(prim[:10])
    lo, hi = c.wave_speeds(q, prim[:10])
    np.testing.assert_allclose(np.stack([lo, hi]), np.stack(spectrum_bounds(q)), rtol=1e-12)


def test_grad_spectrum_is_galilean_and_scale_invariant():
    prim = grad_states(1, seed=3)[0]
    rho, u, T, sigma, q = prim
    base = np.array([[1.0, 0.0, 1.0, sigma / (rho * T), q / (rho * T * np.sqrt(T))]])
    lo0, hi0 = spectrum_bounds(grad_conserved(base))
    lo, hi = spectrum_bounds(grad_conserved(prim[None]))
    np.testing.assert_allclose([lo[0], hi[0]], [u + np.sqrt(T) * lo0[0], u + np.sqrt(T) * hi0[0]],
                               rtol=1e-10)


@pytest.mark.parametrize("how", ["implicit", "exponential"])
def test_grad_relaxation_is_exact_and_conservative(how):
    c = GradClosure(0.01)
    q = c.conserved(grad_states(50, seed=7))
    eq = c.equilibrium_extra(q)[:, 3:]
    out = c.relax(q.copy(), 0.02, how)
    keep = 0.01 / 0.03 if how == "implicit" else np.exp(-2.0)
    np.testing.assert_array_equal(out[:, :3], q[:, :3])
    np.testing.assert_allclose(out[:, 3:], eq + keep * (q[:, 3:] - eq), rtol=1e-14)
    stiff = GradClosure(1e-12).relax(q.copy(), 0.02, how)       # eps -> 0: W -> W_M(U)
    np.testing.assert_allclose(stiff[:, 3:], eq, rtol=1e-9)


def test_generic_linearly_implicit_relax_equals_backward_euler():
    """The base class's step (what a learned source gets) on Grad's linear source."""
    c = GradClosure(0.01)
    q = c.conserved(grad_states(50, seed=8))
    generic = Closure.relax(c, q.copy(), 0.5)
    np.testing.assert_allclose(generic, c.relax(q.copy(), 0.5, "implicit"), rtol=1e-8)


def test_ns_coefficients_and_fluxes():
    c = NavierStokesClosure(0.02)
    left = np.array([[1.0, 0.1, 1.0], [0.5, 0.0, 2.0]])
    right = np.array([[1.0, 0.3, 1.2], [0.5, 0.0, 2.0]])
    flux = c.viscous_flux(left, right, 0.1)
    mu = 0.02 * 0.5 * (1.0 + 1.2)                             # eps p at the face
    np.testing.assert_allclose(flux[0], [0, -4 / 3 * mu * 2.0, 0.2 * (-4 / 3 * mu * 2.0)
                                         - 2.5 * mu * 2.0])
    np.testing.assert_array_equal(flux[1], 0.0)                # uniform: no viscous flux
    assert make_closure("euler", 1.0).viscous is False and c.viscous


def test_ns_stress_and_heat_flux_are_the_kinetic_solvers():
    """Chapman-Enskog of the kinetic solver's own BGK (relaxation time eps): at eps = 1e-3 its
    stress P - p and heat flux q are -4/3 eps p du/dx and -5/2 eps p dT/dx (mu = eps p, Pr 1)."""
    eps, nx = 1e-3, 200
    problem = Problem(CellLayout.make("chu", 64, 7.0), nx, eps=eps,
                      boundary=("periodic", "periodic"))
    s = KineticSolver(problem, TimeOptions(cfl=0.45))
    rho, u, T, _ = smooth_wave(problem.cell_centres(), seed=1, amplitude=0.2, u_amplitude=0.2)
    s.set_state(rho, u, T)
    s.run(0.05)
    m = s.moments()
    p = m["rho"] * m["T"]

    def grad(a):
        return (np.roll(a, -1) - np.roll(a, 1)) / (2 * problem.dx)

    for kinetic, ns in ((m["P"] - p, -4 / 3 * eps * p * grad(m["u"])),
                        (m["q"], -2.5 * eps * p * grad(m["T"]))):
        slope = (kinetic * ns).sum() / (ns * ns).sum()
        assert abs(slope - 1) < 0.05, slope
        assert np.abs(kinetic - ns).max() < 0.06 * np.abs(ns).max()


def test_unknown_closure_says_did_you_mean():
    with pytest.raises(ValueError, match="did you mean 'grad'"):
        make_closure("grd", 1.0)
    with pytest.raises(ValueError, match="eps"):
        make_closure("euler", 0.0)
