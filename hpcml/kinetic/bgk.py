"""BGK collisions with a moment-corrected discrete Maxwellian.

Hot kernel (for bench/bench_kinetic.py): :func:`bgk_step`, which calls
:func:`maxwellian` (a few Newton iterations on ``O(n)`` per-direction sums,
then one ``O(n**3)`` outer product) and one fused update pass over ``f``.

The discrete Maxwellian is ``M = exp(a + b.v + c |v|**2)`` on the velocity
grid with ``(a, b, c)`` found by Newton's method so that the *discrete*
mass, momentum and energy of ``M`` equal those of ``f`` to round-off (in
``chu`` mode: ``g_M = exp(a + b v + c v**2)`` matching mass, momentum and the
x-share of the energy, and ``h_M = T g_M``).  Because the exponent is
separable, every moment is a product of 1D sums, so Newton costs ``O(n)``
per cell.
"""

from __future__ import annotations

import numpy as np

from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.moments import conserved, primitive

RELAX = ("implicit", "exponential")
_NEWTON_TOL = 1e-14
_NEWTON_MAXITER = 40


def _product(p: list, q: list) -> list:
    """Product of two polynomials given as ``[(coef, (px, py, pz)), ...]``."""
    return [(a * b, tuple(i + j for i, j in zip(e, f))) for a, e in p for b, f in q]


#: phi = (1, v_x, v_y, v_z, |v|^2), the derivatives of the exponent by (a, b_x, b_y, b_z, c)
_PHI = [
    [(1.0, (0, 0, 0))], [(1.0, (1, 0, 0))], [(1.0, (0, 1, 0))], [(1.0, (0, 0, 1))],
    [(1.0, (2, 0, 0)), (1.0, (0, 2, 0)), (1.0, (0, 0, 2))],
]
_GRAM = [[_product(p, q) for q in _PHI] for p in _PHI]
_PSI_SCALE = np.array([1.0, 1.0, 1.0, 1.0, 0.5])  # psi = (1, v, |v|^2 / 2) = scale * phi


def _sums(v: np.ndarray, h: float, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``exp(b v + c v**2)`` ``(..., n)`` and its power sums ``h sum v**p``, p = 0..4."""
    e = np.multiply(b[..., None], v)
    e += c[..., None] * (v * v)
    np.exp(e, out=e)
    return e, h * (e @ np.vander(v, 5, increasing=True))


def _initial_guess(rho: np.ndarray, u: np.ndarray, T: np.ndarray, dim: int) -> np.ndarray:
    """Exponent coefficients of the continuous Maxwellian, ``(..., 2 + dim)``."""
    u = u[..., :dim]
    a = np.log(rho) - 0.5 * dim * np.log(2 * np.pi * T) - (u * u).sum(-1) / (2 * T)
    return np.concatenate([a[..., None], u / T[..., None], (-0.5 / T)[..., None]], axis=-1)


def _check_state(rho: np.ndarray, T: np.ndarray) -> None:
    """Raise ValueError for non-positive density or temperature."""
    bad = ~((rho > 0) & (T > 0))
    if bad.any():
        k = np.flatnonzero(bad.ravel())[0]
        raise ValueError(
            f"{bad.sum()} cell(s) with non-positive density or temperature "
            f"(first: flat cell {k}, rho={rho.ravel()[k]:.6g}, T={T.ravel()[k]:.6g})")


def _newton(residual_jacobian, alpha: np.ndarray, scale: np.ndarray) -> tuple:  # noqa: ANN001
    """Batched Newton iterations on ``alpha (..., k)`` until the scaled residual is round-off.

    ``residual_jacobian(alpha)`` returns ``(F, J, extra)``; the result is
    ``(alpha, extra)`` with ``extra`` evaluated at the returned ``alpha``
    (the exponentials, so they are not computed again).
    """
    for _ in range(_NEWTON_MAXITER):
        F, J, extra = residual_jacobian(alpha)
        err = np.abs(F).max(-1) / scale
        if not np.isfinite(err).all():
            raise ValueError("discrete Maxwellian: Newton iteration diverged (velocity grid "
                             "too coarse or box too small for the temperature)")
        if err.max(initial=0.0) < _NEWTON_TOL:
            return alpha, extra
        alpha = alpha - np.linalg.solve(J, F[..., None])[..., 0]
    return alpha, residual_jacobian(alpha)[2]


def full_coefficients(cons: np.ndarray, layout: CellLayout) -> tuple:
    """Newton for the full-mode ``M = exp(a + b.v + c |v|**2)`` matching ``cons`` ``(..., 5)``.

    Returns ``(a, (Ex, Ey, Ez))``: ``a`` ``(...)`` and the per-direction
    factors ``E_d = exp(b_d v + c v**2)`` ``(..., n)``, so that
    ``M[i, j, k] = exp(a) Ex[i] Ey[j] Ez[k]`` (used by the native kernels too).
    """
    v, h = layout.grid.v, layout.grid.h
    rho, u, T = primitive(cons)
    _check_state(rho, T)

    def moment(a, S, terms):  # noqa: ANN001, ANN202
        return np.exp(a) * sum(k * S[0][..., p] * S[1][..., q] * S[2][..., r]
                               for k, (p, q, r) in terms)

    def residual_jacobian(alpha):  # noqa: ANN001, ANN202
        ES = [_sums(v, h, alpha[..., 1 + d], alpha[..., 4]) for d in range(3)]
        S = [s for _, s in ES]
        G = np.stack([np.stack([moment(alpha[..., 0], S, t) for t in row], -1)
                      for row in _GRAM], -2)
        J = G * _PSI_SCALE[:, None]
        return J[..., 0] - cons, J, [e for e, _ in ES]

    alpha, E = _newton(residual_jacobian, _initial_guess(rho, u, T, 3), rho * (1 + T))
    return alpha[..., 0], E


def _chu_coefficients(cons: np.ndarray, layout: CellLayout) -> tuple:
    """Newton for ``(a, b, c)`` of ``g_M``; returns ``(a, E, T)``."""
    v, h = layout.grid.v, layout.grid.h
    rho, u, T = primitive(cons)
    _check_state(rho, T)
    ux = u[..., 0]
    target = np.stack([rho, rho * ux, 0.5 * rho * (ux * ux + T)], -1)
    exps = np.add.outer(np.arange(3), np.arange(3))

    def residual_jacobian(alpha):  # noqa: ANN001, ANN202
        e, S = _sums(v, h, alpha[..., 1], alpha[..., 2])
        J = np.exp(alpha[..., 0])[..., None, None] * S[..., exps]
        J *= np.array([1.0, 1.0, 0.5])[:, None]
        return J[..., 0] - target, J, e

    alpha, e = _newton(residual_jacobian, _initial_guess(rho, u, T, 1), rho * (1 + T))
    return alpha[..., 0], e, T


def maxwellian(cons: np.ndarray, layout: CellLayout, out: np.ndarray | None = None) -> np.ndarray:
    """Discrete Maxwellian whose discrete moments equal ``cons`` to round-off.

    Parameters
    ----------
    cons
        ``(..., 5)`` conserved densities (mass, momentum x/y/z, energy) as
        returned by :func:`hpcml.kinetic.moments.conserved`.
    layout
        Cell layout of the result.
    out
        Optional ``(..., *layout.shape)`` array to write into.

    Returns
    -------
    numpy.ndarray
        ``(..., *layout.shape)``.

    Raises
    ------
    ValueError
        For non-positive density or temperature, or when Newton diverges.
    """
    shape = cons.shape[:-1] + layout.shape
    out = np.empty(shape) if out is None else out
    if layout.mode == "chu":
        a, e, T = _chu_coefficients(cons, layout)
        np.multiply(np.exp(a)[..., None], e, out=out[..., 0, :])
        np.multiply(T[..., None], out[..., 0, :], out=out[..., 1, :])
        return out
    a, (ex, ey, ez) = full_coefficients(cons, layout)
    exy = (np.exp(a)[..., None] * ex)[..., :, None] * ey[..., None, :]
    np.multiply(exy[..., :, :, None], ez[..., None, None, :], out=out)
    return out


def maxwellian_from_state(rho: np.ndarray, u: np.ndarray, T: np.ndarray,
                          layout: CellLayout) -> np.ndarray:
    """Discrete Maxwellian with density ``rho``, x-velocity ``u`` and temperature ``T``.

    The arrays ``(...)`` broadcast together; the discrete moments of the
    result equal ``rho``, ``rho u``, ``rho u**2/2 + 3/2 rho T`` to round-off.
    """
    rho, u, T = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (rho, u, T)))
    cons = np.zeros(rho.shape + (5,))
    cons[..., 0] = rho
    cons[..., 1] = rho * u
    cons[..., 4] = 0.5 * rho * u * u + 1.5 * rho * T
    return maxwellian(cons, layout)


def relax_factor(eps: float, dt: float, relax: str) -> float:
    """The weight ``keep`` of ``f`` in ``M + keep (f - M)``: ``eps/(eps + dt)`` or ``exp(-dt/eps)``.

    Raises
    ------
    ValueError
        For a relaxation outside :data:`RELAX`.
    """
    if relax == "implicit":
        return eps / (eps + dt)
    if relax == "exponential":
        return float(np.exp(-dt / eps))
    raise ValueError(f"unknown BGK relaxation {relax!r}; choose one of {RELAX}")


def bgk_step(f: np.ndarray, layout: CellLayout, eps: float, dt: float,
             relax: str = "implicit", out: np.ndarray | None = None,
             work: dict | None = None) -> np.ndarray:
    """Relax ``f`` towards its discrete Maxwellian over ``dt``: ``df/dt = (M[f] - f)/eps``.

    BGK conserves the moments, so ``M[f]`` at the new time equals ``M[f]``
    now and the implicit step is explicit in cost: ``implicit`` (backward
    Euler) gives ``(eps f + dt M) / (eps + dt)``, ``exponential`` the exact
    ``M + exp(-dt/eps) (f - M)``.  Both are convex combinations of ``f`` and
    ``M``: positive, conservative to round-off and stable for any ``dt/eps``
    (as ``eps -> 0`` the result is ``M``: the asymptotic-preserving limit).

    Parameters
    ----------
    f
        ``(..., *layout.shape)`` distribution after transport.
    layout
        Cell layout.
    eps
        Knudsen number (relaxation time), > 0.
    dt
        Time step.
    relax
        ``implicit`` or ``exponential``.
    out
        Optional output array (may be ``f`` itself).
    work
        Optional dict in which the Maxwellian's buffer is kept between calls
        (fresh large arrays cost page faults on every step).

    Returns
    -------
    numpy.ndarray
        The relaxed distribution, shape of ``f``.
    """
    M = None if work is None else work.get("M")
    if M is None or M.shape != f.shape:
        M = np.empty_like(f)
        if work is not None:
            work["M"] = M
    keep = relax_factor(eps, dt, relax)
    maxwellian(conserved(f, layout), layout, out=M)
    out = np.empty_like(f) if out is None else out
    # out = M + keep (f - M), written without temporaries the size of f beyond M
    np.subtract(f, M, out=out)
    out *= keep
    out += M
    return out
