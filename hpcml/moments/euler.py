"""The Euler closure: ``W`` empty, ``f`` a local Maxwellian (the limit ``eps -> 0``).

``U = (rho, rho u, E)``, ``F(U) = (rho u, rho u**2 + p, u (E + p))`` with
``p = rho T`` and ``E = rho u**2/2 + 3/2 p`` (the moments of the Maxwellian,
``gamma = 5/3``); characteristic speeds ``u - c, u, u + c``, ``c = sqrt(5/3 T)``.
The Knudsen number does not enter.
"""

from __future__ import annotations

import numpy as np

from hpcml.moments.closure import GAMMA, Closure, euler_conserved, euler_primitive, register


def euler_flux(q: np.ndarray, prim: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill columns 0-2 of ``out`` ``(n, >= 3)`` with the Euler flux of ``q`` (prims ``prim``)."""
    u, p = prim[:, 1], prim[:, 0] * prim[:, 2]
    out[:, 0] = q[:, 1]
    out[:, 1] = q[:, 1] * u + p
    out[:, 2] = u * (q[:, 2] + p)
    return out


def sound_speeds(prim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u - c`` and ``u + c`` (each ``(n,)``), ``c = sqrt(gamma T)``, of primitive ``prim``."""
    c = np.sqrt(GAMMA * np.maximum(prim[:, 2], 0.0))
    return prim[:, 1] - c, prim[:, 1] + c


@register("euler")
class EulerClosure(Closure):
    """Compressible Euler equations of the monatomic gas (no extra moments)."""

    def primitive(self, q: np.ndarray) -> np.ndarray:
        """``(n, 3)``: ``rho, u, T``."""
        return np.stack(euler_primitive(q), axis=1)

    def conserved(self, prim: np.ndarray) -> np.ndarray:
        """``(n, 3)``: ``rho, rho u, E``."""
        return euler_conserved(prim[:, 0], prim[:, 1], prim[:, 2], np.empty_like(prim))

    def flux(self, q: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """``(n, 3)`` Euler flux."""
        return euler_flux(q, prim, np.empty_like(q))

    def wave_speeds(self, q: np.ndarray, prim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``u -+ sqrt(5/3 T)``."""
        return sound_speeds(prim)
