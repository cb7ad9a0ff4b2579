"""The penalized fast-spectral Boltzmann collision step wired into the solver."""

import numpy as np
import pytest

from hpcml.kinetic.collision import spectral_available

pytestmark = pytest.mark.skipif(not spectral_available(), reason="no hpcml.kinetic.spectral")

from hpcml.kinetic.bgk import maxwellian, maxwellian_from_state  # noqa: E402
from hpcml.kinetic.collision import PenalizedBoltzmann, conservative_projection  # noqa: E402
from hpcml.kinetic.grid import CellLayout  # noqa: E402
from hpcml.kinetic.initial import sod  # noqa: E402
from hpcml.kinetic.moments import conserved  # noqa: E402
from hpcml.kinetic.solver import KineticSolver, Problem  # noqa: E402


def layout():
    return CellLayout.make("full", 12, 7.0)


def test_projection_zeroes_the_invariants():
    lay = layout()
    rng = np.random.default_rng(0)
    M = maxwellian_from_state(np.array([1.0, 0.3]), np.array([0.0, 0.4]), np.array([1.0, 0.7]),
                              lay)
    q = conservative_projection(rng.standard_normal(M.shape) * M, M, lay)
    assert np.abs(conserved(q, lay)).max() < 1e-14


def test_penalized_step_conserves_and_relaxes():
    lay = layout()
    M = maxwellian_from_state(np.ones(3), np.array([0.0, 0.2, -0.3]), np.ones(3), lay)
    f = M * (1 + 0.3 * np.cos(np.asarray(lay.vx) * 1.3))     # anisotropic, positive
    c0 = conserved(f, lay)
    op = PenalizedBoltzmann(lay, eps=1.0)
    g = op.step(f, 0.5, np.empty_like(f))
    assert np.abs(conserved(g, lay) - c0).max() < 1e-14
    Mf = maxwellian(c0, lay)
    assert np.abs(g - Mf).max() < np.abs(f - Mf).max()


@pytest.mark.parametrize("eps", [1e-4, 1.0])
def test_sod_with_boltzmann(eps):
    lay = layout()
    runs = {}
    for coll in ("boltzmann", "bgk"):
        s = KineticSolver(Problem(lay, 16, eps=eps, collision=coll))
        s.set_state(*sod(s.x))
        summary = s.run(0.03)
        assert max(summary["conservation"].values()) < 1e-13, summary
        runs[coll] = s.moments()
    diff = np.abs(runs["boltzmann"]["rho"] - runs["bgk"]["rho"]).max()
    if eps < 1e-3:   # both at the Euler limit
        assert diff < 5e-3, diff
