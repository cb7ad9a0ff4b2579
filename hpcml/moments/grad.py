"""Grad's 13-moment closure in 1D-3V (flow along x), with BGK relaxation: 5 moments.

Without transverse flow the 13 moments of Grad reduce to ``rho, u, T``, the
normal stress ``sigma = P_xx - p`` (``P_yy = P_zz = p - sigma/2``) and the
heat flux ``q = q_x``.  The solver carries them as *linear* moments of ``f``,
so that the system is in conservation form like the learned closure's:

    W1 = int v_x**2 f dv = rho u**2 + p + sigma,
    W2 = int v_x |v|**2/2 f dv = u (E + p + sigma) + q,

and ``F(U, W) = (rho u, W1, W2)`` is exact.  The closure is ``G = (int v_x**3 f,
int v_x**3 |v|**2/2 f)`` -- precisely ``int v_x**2 w f`` for ``w = (v_x, |v|**2/2)``
-- of Grad's distribution

    f = M [1 + sigma_ij c_i c_j / (2 p T) + q_i c_i (|c|**2/(5 T) - 1) / (p T)],
    sigma_ij = diag(sigma, -sigma/2, -sigma/2),  q_i = (q, 0, 0),  c = v - u,

whose central moments are ``int c_x**3 f = 6/5 q`` and
``int c_x**2 |c|**2/2 f = 5/2 p T + 7/2 T sigma``, so

    G1 = rho u**3 + 3 u (p + sigma) + 6/5 q,
    G2 = rho u**4/2 + u**2 (3 p + 5 (p + sigma))/2 + 16/5 u q + 5/2 p T + 7/2 T sigma.

The BGK source is exact: ``R = int w M dv - W = (-sigma, -(u sigma + q))``, so
``W`` relaxes to its Maxwellian value at rate ``1/eps`` with ``U`` fixed
(:meth:`GradClosure.relax`: backward Euler or the exact exponential).  Both
moments relax at the same rate: the Chapman-Enskog limit has ``mu = eps p``,
``kappa = 5/2 eps p`` (Pr = 1), the Navier-Stokes closure of
:mod:`hpcml.moments.navier_stokes`.

Wave speeds: at equilibrium ``u``, ``u -+ 0.6297 c``, ``u -+ 1.6503 c``
(``c = sqrt(5/3 T)``); away from it the system loses hyperbolicity (complex
eigenvalues), a known property of Grad's closure.  The spectrum is Galilean
and scale invariant, ``lambda = u + sqrt(T) Lambda(sigma/p, q/(p sqrt(T)))``,
so the bounds ``Lambda-+`` come from a table over ``(sigma/p, q/(p sqrt T))``
built once from the exact flux Jacobian (complex-step derivatives), with the
exact eigenvalues computed for states outside it.
"""

from __future__ import annotations

import functools

import numpy as np

from hpcml.kinetic.bgk import relax_factor
from hpcml.moments.closure import Closure, euler_primitive, register

#: table of the spectrum bounds: sigma/p in [-1, 2] (P_xx, P_yy >= 0), q/(p sqrt T) in [-4, 4]
TABLE_S = (-1.0, 2.0, 61)
TABLE_R = (-4.0, 4.0, 161)


def grad_primitive(q: np.ndarray) -> np.ndarray:
    """``(n, 5)``: ``rho, u, T, sigma, q_x`` of states ``q`` ``(n, 5)`` (real or complex)."""
    rho, u, T = euler_primitive(q)
    sigma = q[:, 3] - rho * u * u - rho * T
    heat = q[:, 4] - u * (q[:, 2] + rho * T + sigma)
    return np.stack([rho, u, T, sigma, heat], axis=1)


def grad_conserved(prim: np.ndarray) -> np.ndarray:
    """``(n, 5)``: ``rho, rho u, E, W1, W2`` of primitive ``rho, u, T, sigma, q_x``."""
    rho, u, T, sigma, heat = prim.T
    energy = 0.5 * rho * u * u + 1.5 * rho * T
    pxx = rho * T + sigma
    return np.stack([rho, rho * u, energy, rho * u * u + pxx, u * (energy + pxx) + heat], axis=1)


def grad_flux(q: np.ndarray, prim: np.ndarray) -> np.ndarray:
    """``(n, 5)``: ``F = (rho u, W1, W2)`` and Grad's ``G = (G1, G2)`` (module docstring)."""
    rho, u, T, sigma, heat = prim.T
    p = rho * T
    pxx = p + sigma
    g1 = rho * u**3 + 3.0 * u * pxx + 1.2 * heat
    g2 = (0.5 * rho * u**4 + 0.5 * u * u * (3.0 * p + 5.0 * pxx) + 3.2 * u * heat
          + 2.5 * p * T + 3.5 * T * sigma)
    return np.stack([q[:, 1], q[:, 3], q[:, 4], g1, g2], axis=1)


def flux_jacobian(q: np.ndarray) -> np.ndarray:
    """``dF/dq`` ``(n, 5, 5)`` at states ``q`` ``(n, 5)``, exact by complex-step derivatives."""
    h = 1e-30
    jac = np.empty((q.shape[0], 5, 5))
    for k in range(5):
        qc = q.astype(complex)
        qc[:, k] += 1j * h
        jac[:, :, k] = grad_flux(qc, grad_primitive(qc)).imag / h
    return jac


def spectrum_bounds(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``min(Re l - |Im l|)``, ``max(Re l + |Im l|)`` over the eigenvalues, each ``(n,)``."""
    lam = np.linalg.eigvals(flux_jacobian(q))
    return (lam.real - np.abs(lam.imag)).min(1), (lam.real + np.abs(lam.imag)).max(1)


@functools.lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """Bounds over each cell of the ``(s, r)`` grid of :data:`TABLE_S` x :data:`TABLE_R`.

    ``lo[i, j]`` is the least ``Lambda-`` and ``hi[i, j]`` the largest
    ``Lambda+`` at the four grid points around grid cell ``(i, j)``, each
    ``(ns - 1, nr - 1)``.
    """
    s, r = np.meshgrid(np.linspace(*TABLE_S), np.linspace(*TABLE_R), indexing="ij")
    prim = np.zeros((s.size, 5))
    prim[:, 0], prim[:, 2], prim[:, 3], prim[:, 4] = 1.0, 1.0, s.ravel(), r.ravel()
    lo, hi = (b.reshape(s.shape) for b in spectrum_bounds(grad_conserved(prim)))
    return (np.minimum.reduce([lo[:-1, :-1], lo[1:, :-1], lo[:-1, 1:], lo[1:, 1:]]),
            np.maximum.reduce([hi[:-1, :-1], hi[1:, :-1], hi[:-1, 1:], hi[1:, 1:]]))


def _cell(s: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i, j)`` of the table's grid cells holding ``(s, r)`` (clamped to the table)."""
    (s0, s1, ns), (r0, r1, nr) = TABLE_S, TABLE_R
    i = ((s - s0) * ((ns - 1) / (s1 - s0))).astype(int)
    j = ((r - r0) * ((nr - 1) / (r1 - r0))).astype(int)
    return np.minimum(np.maximum(i, 0), ns - 2), np.minimum(np.maximum(j, 0), nr - 2)


@register("grad")
class GradClosure(Closure):
    """Grad's closure for ``W = (int v_x**2 f, int v_x |v|**2/2 f)``, BGK relaxation (exact)."""

    extra = ("W1", "W2")
    parity = (1, -1, 1, 1, -1)

    def primitive(self, q: np.ndarray) -> np.ndarray:
        """``(n, 5)``: ``rho, u, T, sigma, q_x``."""
        return grad_primitive(q)

    def conserved(self, prim: np.ndarray) -> np.ndarray:
        """``(n, 5)``: ``rho, rho u, E, W1, W2``."""
        return grad_conserved(prim)

    def flux(self, q: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """``(n, 5)``: :func:`grad_flux`."""
        return grad_flux(q, prim)

    def wave_speeds(self, q: np.ndarray, prim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``u + sqrt(T) Lambda-+`` from the table (exact eigenvalues outside it)."""
        rho, u, T, sigma, heat = prim.T
        root = np.sqrt(np.maximum(T, 0.0))
        p = rho * T
        s = sigma / p
        r = heat / (p * root)
        lo_t, hi_t = _table()
        with np.errstate(invalid="ignore"):       # NaN s or r: caught as outside below
            i, j = _cell(s, r)
        lo, hi = lo_t[i, j], hi_t[i, j]
        outside = ~((s >= TABLE_S[0]) & (s <= TABLE_S[1]) & (r >= TABLE_R[0]) & (r <= TABLE_R[1]))
        if outside.any():
            exact = np.flatnonzero(outside & (p > 0))
            lo[outside], hi[outside] = -np.inf, np.inf      # non-positive p: no bound
            if exact.size:
                lo_e, hi_e = spectrum_bounds(q[exact])
                lo[exact], hi[exact] = (lo_e - u[exact]) / root[exact], \
                    (hi_e - u[exact]) / root[exact]
        return u + root * lo, u + root * hi

    def source(self, q: np.ndarray) -> np.ndarray:
        """``(n, 5)``: ``(0, 0, 0, -sigma, -(u sigma + q_x))``."""
        out = self.equilibrium_extra(q)
        out[:, 3:] -= q[:, 3:]
        return out

    def equilibrium_extra(self, q: np.ndarray) -> np.ndarray:
        """``(n, 5)``: ``W_M(U) = (rho u**2 + p, u (E + p))`` in columns 3-4, else 0."""
        rho, u, T = euler_primitive(q)
        p = rho * T
        out = np.zeros_like(q)
        out[:, 3] = rho * u * u + p
        out[:, 4] = u * (q[:, 2] + p)
        return out

    def relax(self, q: np.ndarray, dt: float, how: str = "implicit") -> np.ndarray:
        """``W <- W_M(U) + k (W - W_M(U))``, ``k = eps/(eps + dt)`` or ``exp(-dt/eps)``."""
        if dt <= 0:
            return q
        keep = relax_factor(self.eps, dt, how)
        eq = self.equilibrium_extra(q)[:, 3:]
        q[:, 3:] = eq + keep * (q[:, 3:] - eq)
        return q
