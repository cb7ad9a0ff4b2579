"""Velocity grid, moments and the moment-corrected BGK operator."""

import numpy as np
import pytest

from hpcml.kinetic.bgk import bgk_step, maxwellian, maxwellian_from_state
from hpcml.kinetic.grid import CellLayout, VelocityGrid
from hpcml.kinetic.moments import conserved, macroscopic

LAYOUTS = {"chu": (48, 7.0), "full": (16, 6.0)}


def layout(mode):
    n, vmax = LAYOUTS[mode]
    return CellLayout.make(mode, n, vmax)


def random_f(lay, ncell=6, seed=0):
    """Positive, far-from-equilibrium distributions with various (rho, u, T)."""
    rng = np.random.default_rng(seed)
    M = maxwellian_from_state(rng.uniform(0.2, 2, ncell), rng.uniform(-1, 1, ncell),
                              rng.uniform(0.3, 2, ncell), lay)
    return M * rng.uniform(0.2, 3.0, M.shape)


def test_grid_points_and_weight():
    g = VelocityGrid(8, 4.0, dim=3)
    assert g.h == 1.0 and g.weight == 1.0
    np.testing.assert_allclose(g.v, np.arange(-3.5, 4.0))
    np.testing.assert_allclose(g.v, -g.v[::-1])
    with pytest.raises(ValueError, match="dim"):
        VelocityGrid(8, 4.0, dim=2)
    with pytest.raises(ValueError, match="mode"):
        CellLayout.make("fast", 8, 4.0)


@pytest.mark.parametrize("mode", ["chu", "full"])
def test_maxwellian_moments_are_exact(mode):
    lay = layout(mode)
    rho, u, T = np.array([1.0, 0.125, 3.0]), np.array([0.0, 0.7, -0.9]), np.array([1.0, 0.8, 0.6])
    m = macroscopic(maxwellian_from_state(rho, u, T, lay), lay)
    np.testing.assert_allclose(m["rho"], rho, rtol=1e-13)
    np.testing.assert_allclose(m["u"], u, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m["T"], T, rtol=1e-12)
    # the corrected Maxwellian is close to the continuous one: P = rho T, q = 0
    np.testing.assert_allclose(m["P"], rho * T, rtol=1e-6)
    np.testing.assert_allclose(m["q"], 0.0, atol=1e-6)


@pytest.mark.parametrize("mode", ["chu", "full"])
def test_bgk_conserves_to_round_off(mode):
    lay = layout(mode)
    f = random_f(lay)
    c0 = conserved(f, lay)
    scale = np.abs(c0).max()
    M = maxwellian(c0, lay)
    assert np.abs(conserved(M, lay) - c0).max() / scale < 1e-14
    for relax in ("implicit", "exponential"):
        for eps, dt in ((1.0, 0.1), (1e-4, 0.01), (1e3, 0.01)):
            g = bgk_step(f, lay, eps, dt, relax=relax)
            assert np.all(g > 0)
            err = np.abs(conserved(g, lay) - c0).max(0) / scale
            assert err.max() < 1e-14, (relax, eps, err)


def test_bgk_asymptotic_limit_and_rate():
    lay = layout("chu")
    f = random_f(lay)
    M = maxwellian(conserved(f, lay), lay)
    np.testing.assert_allclose(bgk_step(f, lay, 1e-12, 1.0), M, rtol=1e-10, atol=1e-14)
    g = bgk_step(f, lay, 2.0, 1.0, relax="exponential")
    np.testing.assert_allclose(g - M, np.exp(-0.5) * (f - M), atol=1e-14)
    g = bgk_step(f, lay, 2.0, 1.0, relax="implicit")
    np.testing.assert_allclose(g - M, (2 / 3) * (f - M), atol=1e-14)


def test_chu_matches_full_moments():
    """The Chu pair (g, h) of a 3D Maxwellian has the same moments as the full grid."""
    rho, u, T = np.array([0.5]), np.array([0.4]), np.array([1.3])
    m_full = macroscopic(maxwellian_from_state(rho, u, T, layout("full")), layout("full"))
    m_chu = macroscopic(maxwellian_from_state(rho, u, T, layout("chu")), layout("chu"))
    for k in ("rho", "u", "T", "P"):
        np.testing.assert_allclose(m_full[k], m_chu[k], rtol=1e-5)


def test_negative_density_is_an_error():
    lay = layout("chu")
    with pytest.raises(ValueError, match="non-positive density"):
        maxwellian_from_state(np.array([1.0, -0.1]), 0.0, 1.0, lay)
