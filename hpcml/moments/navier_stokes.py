"""The Navier-Stokes-Fourier closure of BGK: first-order Chapman-Enskog, ``W`` empty.

For ``df/dt + v_x df/dx = (M[f] - f)/eps`` (relaxation time ``eps``, the same
for every density, as in :mod:`hpcml.kinetic.bgk`), the first Chapman-Enskog
correction ``f1 = -eps (dt + v.grad) M`` gives the viscous stress and heat flux
of a gas with

    mu = eps p,   kappa = 5/2 eps p   (c_p = 5/2, Prandtl number mu c_p / kappa = 1),

``p = rho T`` (R = 1).  In 1D (flow along x only) the deviatoric stress is
``sigma_xx = -4/3 mu du/dx`` and the heat flux ``q_x = -kappa dT/dx``, so

    F = F_Euler + (0, sigma_xx, u sigma_xx + q_x).

The parabolic part is applied separately (:mod:`hpcml.moments.rkl2`), with
face fluxes from two-point gradients and ``mu`` from ``p`` averaged over the
face, held at its value of the step's start through the step's stages (else
the viscous heating of a strong velocity jump raises ``mu`` within the step
past what the stage count was chosen for, and the step blows up).  The
explicit step of it is stable for ``dt <= dx**2 / (2 D)``, ``D`` the largest
of ``4/3 mu/rho`` (momentum) and ``kappa/(rho c_v) = 5/3 mu/rho`` (heat):
:meth:`NavierStokesClosure.diffusivity`.
"""

from __future__ import annotations

import numpy as np

from hpcml.moments.closure import register
from hpcml.moments.euler import EulerClosure

#: kappa / mu of BGK: c_p / Pr with c_p = 5/2 (R = 1) and Pr = 1
KAPPA_OVER_MU = 2.5
#: c_v of the monatomic gas (R = 1)
CV = 1.5


def viscosity(eps: float, p: np.ndarray) -> np.ndarray:
    """Viscosity ``mu = eps p`` of BGK with relaxation time ``eps`` (same shape as ``p``)."""
    return eps * p


@register("ns")
class NavierStokesClosure(EulerClosure):
    """Euler fluxes plus BGK's Chapman-Enskog stress and heat flux (``mu = eps p``, Pr = 1)."""

    viscous = True

    def face_coefficients(self, prim_left: np.ndarray, prim_right: np.ndarray) -> np.ndarray:
        """``(nf, 1)``: ``mu = eps p`` at each face, ``p`` averaged over its two cells."""
        p_face = 0.5 * (prim_left[:, 0] * prim_left[:, 2] + prim_right[:, 0] * prim_right[:, 2])
        return viscosity(self.eps, p_face)[:, None]

    def viscous_flux(self, prim_left: np.ndarray, prim_right: np.ndarray, dx: float,
                     coefficients: np.ndarray | None = None) -> np.ndarray:
        """``(nf, 3)``: ``(0, sigma_xx, u sigma_xx + q_x)`` at faces between ``prim_left/right``.

        ``prim_left``, ``prim_right`` are the ``(nf, 3)`` primitive states of the
        cells left and right of each face, ``dx`` their distance;
        ``coefficients`` the faces' ``mu`` (:meth:`face_coefficients`).
        """
        if coefficients is None:
            coefficients = self.face_coefficients(prim_left, prim_right)
        mu = coefficients[:, 0]
        sigma = (-4.0 / 3.0) * mu * (prim_right[:, 1] - prim_left[:, 1]) / dx
        heat = -KAPPA_OVER_MU * mu * (prim_right[:, 2] - prim_left[:, 2]) / dx
        out = np.zeros_like(prim_left)
        out[:, 1] = sigma
        out[:, 2] = 0.5 * (prim_left[:, 1] + prim_right[:, 1]) * sigma + heat
        return out

    def diffusivity(self, prim: np.ndarray) -> np.ndarray:
        """``(n - 2,)``: ``5/3 (mu_- + mu_+) / (2 rho)`` of the interior cells (Gershgorin)."""
        p = prim[:, 0] * prim[:, 2]
        mu = viscosity(self.eps, 0.5 * (p[:-1] + p[1:]))
        return (KAPPA_OVER_MU / CV) * 0.5 * (mu[:-1] + mu[1:]) / prim[1:-1, 0]

    def _heat_flux(self, prim: np.ndarray, dx: float) -> np.ndarray:
        """``-kappa dT/dx`` (central differences) at the interior cells."""
        p = prim[1:-1, 0] * prim[1:-1, 2]
        grad_t = (prim[2:, 2] - prim[:-2, 2]) / (2 * dx)
        return -KAPPA_OVER_MU * viscosity(self.eps, p) * grad_t

    def _stress(self, prim: np.ndarray, dx: float) -> np.ndarray:
        """``p - 4/3 mu du/dx`` (central differences) at the interior cells."""
        p = prim[1:-1, 0] * prim[1:-1, 2]
        grad_u = (prim[2:, 1] - prim[:-2, 1]) / (2 * dx)
        return p - (4.0 / 3.0) * viscosity(self.eps, p) * grad_u
