"""Collision steps over one time step: BGK and the penalized Boltzmann operator.

A collision is an object with ``name`` and ``step(f, dt, out) -> out`` that
applies ``df/dt = Q(f)/eps`` (implicitly where stiff) to a block of cells
``(nc, *layout.shape)``; it never mixes cells, so the parallel solver
applies it to its own block unchanged.  Registered in :data:`COLLISIONS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from hpcml.kinetic.bgk import bgk_step, maxwellian, maxwellian_from_state
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.moments import conserved

_log = logging.getLogger(__name__)

#: collision name -> factory(layout, eps, **options)
COLLISIONS: dict[str, Callable] = {}


def register(name: str) -> Callable:
    """Add the decorated factory to :data:`COLLISIONS`."""
    def add(factory: Callable) -> Callable:
        COLLISIONS[name] = factory
        return factory
    return add


@register("bgk")
class BGK:
    """BGK relaxation to the moment-corrected discrete Maxwellian (:func:`bgk_step`)."""

    name = "bgk"

    def __init__(self, layout: CellLayout, eps: float, relax: str = "implicit", **_: object):
        self.layout, self.eps, self.relax = layout, float(eps), relax
        self._work: dict = {}

    def step(self, f: np.ndarray, dt: float, out: np.ndarray) -> np.ndarray:
        """Relax ``f`` ``(nc, *shape)`` over ``dt`` into ``out``."""
        return bgk_step(f, self.layout, self.eps, dt, relax=self.relax, out=out, work=self._work)


def spectral_available() -> bool:
    """True when the fast spectral Boltzmann operator (hpcml.kinetic.spectral) is installed."""
    try:
        from hpcml.kinetic.spectral import SpectralBoltzmann  # noqa: F401
    except ImportError:
        return False
    return True


@register("boltzmann")
class PenalizedBoltzmann:
    """Boltzmann operator for Maxwell molecules (fast spectral) with BGK penalization.

    Filbet--Jin IMEX step: ``Q - P`` explicit and the penalization
    ``P(f) = beta (M[f] - f)`` implicit, with ``M`` the moment-corrected
    discrete Maxwellian (unchanged by collisions) and ``beta = beta_0 rho``
    per cell, ``beta_0`` the loss frequency of the operator for a unit
    density (for Maxwell molecules it does not depend on ``T``), the bound
    of the spectrum of the linearized operator.  Stable for ``dt >> eps``;
    mass is conserved to round-off, momentum and energy to the spectral
    accuracy of the operator.  Needs ``mode: full``.
    """

    name = "boltzmann"

    def __init__(self, layout: CellLayout, eps: float, n_angles: int = 16, **_: object):
        if layout.mode != "full":
            raise ValueError("the Boltzmann operator needs the full 3D velocity grid "
                             "(kinetic.velocity.mode: full)")
        from hpcml.kinetic.spectral import SpectralBoltzmann

        self.layout, self.eps = layout, float(eps)
        self.op = SpectralBoltzmann(layout.grid.n, layout.grid.vmax, n_angles=n_angles)
        self.beta0 = self._decay_rate()
        _log.info("Boltzmann penalization beta_0 = %.4g (per unit density)", self.beta0)

    def _decay_rate(self) -> float:
        """Largest loss frequency ``nu(v)`` of a unit-density Maxwellian (``nu = beta_0 rho``)."""
        M = maxwellian_from_state(1.0, 0.0, 1.0, self.layout)
        return float(self.op.loss_frequency(M).max())

    def step(self, f: np.ndarray, dt: float, out: np.ndarray) -> np.ndarray:
        """One penalized IMEX collision step of ``f`` ``(nc, n, n, n)`` into ``out``."""
        cons = conserved(f, self.layout)
        M = maxwellian(cons, self.layout)
        beta = (self.beta0 * cons[:, 0]).reshape((-1,) + (1,) * len(self.layout.shape))
        q = conservative_projection(self.op.collide(f), M, self.layout)
        lam = dt / self.eps
        # f_new = [f + lam (Q(f) - beta (M - f)) + lam beta M] / (1 + lam beta)
        np.subtract(M, f, out=out)
        out *= -beta
        out += q
        out *= lam
        out += f
        out += lam * beta * M
        out /= 1.0 + lam * beta
        return out


def conservative_projection(q: np.ndarray, M: np.ndarray, layout: CellLayout) -> np.ndarray:
    """``q - M (alpha . phi)`` with the 5 ``alpha`` per cell that zero its mass, momentum, energy.

    ``phi = (1, v_x, v_y, v_z, |v|^2)``; the correction is weighted by the
    Maxwellian ``M`` so it sits where ``f`` does (a Maxwellian-weighted
    least-squares projection onto the collision invariants' complement).
    ``q`` and ``M`` are ``(nc, n, n, n)``; ``q`` is modified and returned.
    """
    vx, vy, vz = layout.velocity_powers()
    shape = layout.shape
    phi = [np.ones(shape), np.broadcast_to(vx, shape), np.broadcast_to(vy, shape),
           np.broadcast_to(vz, shape), np.broadcast_to(vx * vx + vy * vy + vz * vz, shape)]
    phi = np.stack(phi).reshape(5, -1)                            # (5, n^3)
    psi = phi * np.array([1.0, 1.0, 1.0, 1.0, 0.5])[:, None]
    Mf = M.reshape(M.shape[0], -1)
    gram = np.einsum("kv,jv,cv->ckj", psi, phi, Mf) * layout.grid.weight
    alpha = np.linalg.solve(gram, conserved(q, layout)[..., None])[..., 0]
    q -= (alpha @ phi).reshape(q.shape) * M
    return q


def make_collision(name: str, layout: CellLayout, eps: float, **options: object) -> object:
    """Build the registered collision ``name``.

    Raises
    ------
    ValueError
        For an unknown name, or ``boltzmann`` when its operator is not installed.
    """
    if name not in COLLISIONS:
        raise ValueError(f"unknown collision model {name!r}; choose one of {sorted(COLLISIONS)}")
    if name == "boltzmann" and not spectral_available():
        raise ValueError("collision 'boltzmann' is not available: the fast spectral operator "
                         "(hpcml.kinetic.spectral) is not installed; use collision: bgk")
    return COLLISIONS[name](layout, eps, **options)
