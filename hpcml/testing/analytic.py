"""Exact solutions for verifying the kinetic solvers (numpy only).

Units: the gas constant is 1, so the temperature is ``T = p / rho`` and the
Maxwellian of a state ``(rho, u, T)`` in 1D-3V is
``rho (2 pi T)^{-3/2} exp(-|v - u e_x|^2 / 2T)``; lengths, times and
velocities are in any consistent units.  States are given as ``(rho, u, p)``
triples (density, x-velocity, pressure), as in :mod:`hpcml.kinetic.initial`.

- :func:`euler_riemann` -- the exact Euler Riemann solution (Toro's exact
  iterative solver, any gamma), sampled at ``(x, t)``; :func:`euler_star`
  gives the star state and the wave speeds.
- :func:`free_flow_riemann` -- the exact collisionless (free-flow) moments
  of piecewise-Maxwellian Riemann data, ``f(x, v, t) = f0(x - v_x t, v)``:
  closed form with erf, or the semi-discrete exact solution on a velocity
  grid (what a velocity-discretised solver converges to as dx -> 0).
- :func:`bkw`, :func:`bkw_dfdt` -- the BKW solution of the space-homogeneous
  Boltzmann equation for Maxwell molecules and its time derivative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

State = tuple[float, float, float]

_erfc = np.frompyfunc(math.erfc, 1, 1)


# ---------------------------------------------------------------------------
# Exact Euler Riemann solver (Toro, Riemann Solvers and Numerical Methods, ch. 4)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RiemannStar:
    """Star region and wave speeds of an Euler Riemann problem.

    Attributes
    ----------
    p, u
        Pressure and velocity between the two nonlinear waves.
    rho_left, rho_right
        Densities left and right of the contact.
    left_shock, right_shock
        True where that wave is a shock (else a rarefaction).
    left_speeds, right_speeds
        ``(head, tail)`` speeds of each wave; both equal the shock speed for
        a shock.
    """

    p: float
    u: float
    rho_left: float
    rho_right: float
    left_shock: bool
    right_shock: bool
    left_speeds: tuple[float, float]
    right_speeds: tuple[float, float]


def _sound(state: State, gamma: float) -> float:
    rho, _, p = state
    return math.sqrt(gamma * p / rho)


def _check_state(state: Any, name: str) -> State:
    rho, u, p = (float(s) for s in state)
    if not (rho > 0 and p > 0 and math.isfinite(u)):
        raise ValueError(f"{name} state (rho, u, p) = {state}: rho and p must be positive")
    return rho, u, p


def _pressure_function(p: float, state: State, gamma: float) -> tuple[float, float]:
    """Toro's f_K(p) and its derivative (velocity jump across the wave K)."""
    rho, _, pk = state
    if p > pk:                                            # shock
        a = 2.0 / ((gamma + 1.0) * rho)
        b = (gamma - 1.0) / (gamma + 1.0) * pk
        root = math.sqrt(a / (p + b))
        return (p - pk) * root, root * (1.0 - 0.5 * (p - pk) / (p + b))
    ak = _sound(state, gamma)                             # rarefaction
    ratio = p / pk
    f = 2.0 * ak / (gamma - 1.0) * (ratio ** ((gamma - 1.0) / (2.0 * gamma)) - 1.0)
    return f, ratio ** (-(gamma + 1.0) / (2.0 * gamma)) / (rho * ak)


def _star_pressure(left: State, right: State, gamma: float) -> float:
    """Newton iteration for p* from the two-rarefaction guess."""
    al, ar = _sound(left, gamma), _sound(right, gamma)
    du = right[1] - left[1]
    if 2.0 * (al + ar) / (gamma - 1.0) <= du:
        raise ValueError(f"Riemann data {left} | {right} generate a vacuum "
                         f"(u_R - u_L = {du:g} >= 2 (a_L + a_R) / (gamma - 1)); "
                         "the exact solver here does not treat vacuum")
    z = (gamma - 1.0) / (2.0 * gamma)
    p = ((al + ar - 0.5 * (gamma - 1.0) * du)
         / (al / left[2] ** z + ar / right[2] ** z)) ** (1.0 / z)
    for _ in range(100):
        fl, dfl = _pressure_function(p, left, gamma)
        fr, dfr = _pressure_function(p, right, gamma)
        p_new = max(p - (fl + fr + du) / (dfl + dfr), 1e-12 * p)
        if abs(p_new - p) <= 1e-15 * (p_new + p):
            return p_new
        p = p_new
    raise RuntimeError(f"exact Riemann solver did not converge for {left} | {right}")


def euler_star(left: State, right: State, gamma: float = 5.0 / 3.0) -> RiemannStar:
    """Star state and wave speeds of the Euler Riemann problem ``left | right``.

    Parameters
    ----------
    left, right
        ``(rho, u, p)`` of the two initial states.
    gamma
        Ratio of specific heats (5/3 for the monatomic gas of 1D-3V kinetics).
    """
    left, right = _check_state(left, "left"), _check_state(right, "right")
    p = _star_pressure(left, right, gamma)
    fl, _ = _pressure_function(p, left, gamma)
    fr, _ = _pressure_function(p, right, gamma)
    u = 0.5 * (left[1] + right[1]) + 0.5 * (fr - fl)
    sides = []
    for state, sign in ((left, -1.0), (right, 1.0)):
        rho_k, u_k, p_k = state
        a_k = _sound(state, gamma)
        ratio = p / p_k
        if ratio > 1.0:
            g6 = (gamma - 1.0) / (gamma + 1.0)
            rho = rho_k * (ratio + g6) / (g6 * ratio + 1.0)
            s = u_k + sign * a_k * math.sqrt((gamma + 1.0) / (2.0 * gamma) * ratio
                                             + (gamma - 1.0) / (2.0 * gamma))
            sides.append((rho, True, (s, s)))
        else:
            rho = rho_k * ratio ** (1.0 / gamma)
            a_star = a_k * ratio ** ((gamma - 1.0) / (2.0 * gamma))
            sides.append((rho, False, (u_k + sign * a_k, u + sign * a_star)))
    (rho_l, shock_l, speeds_l), (rho_r, shock_r, speeds_r) = sides
    return RiemannStar(p, u, rho_l, rho_r, shock_l, shock_r, speeds_l, speeds_r)


def _fan(state: State, s: np.ndarray, gamma: float, sign: float) -> tuple[np.ndarray, ...]:
    """Inside a rarefaction fan (sign -1 for the left wave, +1 for the right)."""
    rho_k, u_k, p_k = state
    a_k = _sound(state, gamma)
    g = gamma - 1.0
    u = 2.0 / (gamma + 1.0) * (-sign * a_k + 0.5 * g * u_k + s)
    a = 2.0 / (gamma + 1.0) * (a_k - sign * 0.5 * g * (u_k - s))
    return rho_k * (a / a_k) ** (2.0 / g), u, p_k * (a / a_k) ** (2.0 * gamma / g)


def euler_riemann(x: np.ndarray, t: float, left: State, right: State,
                  gamma: float = 5.0 / 3.0,
                  x0: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Euler solution of a Riemann problem sampled at points ``x`` and time ``t``.

    Parameters
    ----------
    x
        Sample points, shape (nx,), length units.
    t
        Time (>= 0); at t = 0 the initial data (``left`` for x < x0).
    left, right
        ``(rho, u, p)`` of the initial states left and right of ``x0``.
    gamma
        Ratio of specific heats.
    x0
        Position of the initial discontinuity.

    Returns
    -------
    rho, u, p
        Arrays of shape (nx,).

    Examples
    --------
    >>> rho, u, p = euler_riemann(np.array([0.6]), 0.2, (1, 0, 1), (0.125, 0, 0.1))
    >>> round(float(p[0]), 5)
    0.29395
    """
    x = np.asarray(x, dtype=float)
    left, right = _check_state(left, "left"), _check_state(right, "right")
    if t < 0:
        raise ValueError(f"t = {t} must be >= 0")
    if t == 0:
        pick = x < x0
        return tuple(np.where(pick, lv, rv) for lv, rv in zip(left, right))
    star = euler_star(left, right, gamma)
    s = (x - x0) / t
    out = [np.empty_like(s) for _ in range(3)]
    for side, state, rho_star, shock, (head, tail), sign in (
            (s <= star.u, left, star.rho_left, star.left_shock, star.left_speeds, -1.0),
            (s > star.u, right, star.rho_right, star.right_shock, star.right_speeds, 1.0)):
        outside = side & (sign * (s - head) >= 0)
        inner = side & ~outside & (shock | (sign * (s - tail) <= 0))
        fan = side & ~outside & ~inner
        for k, (value, star_value) in enumerate(zip(state, (rho_star, star.u, star.p))):
            out[k][outside] = value
            out[k][inner] = star_value
        for k, value in enumerate(_fan(state, s[fan], gamma, sign)):
            out[k][fan] = value
    return out[0], out[1], out[2]


# ---------------------------------------------------------------------------
# Collisionless (free-flow) Riemann problem in 1D-3V
# ---------------------------------------------------------------------------


def _upper_moments(xi: np.ndarray, rho: float, u: float, temp: float) -> list[np.ndarray]:
    """``rho * int_{v > xi} v^k g(v) dv`` for k = 0..3, g the 1D Gaussian (u, T)."""
    sigma = math.sqrt(temp)
    z = np.clip((xi - u) / sigma, -40.0, 40.0)
    tail = 0.5 * _erfc(z / math.sqrt(2.0)).astype(float)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    c = [tail, sigma * phi, sigma**2 * (z * phi + tail), sigma**3 * (z * z + 2.0) * phi]
    return [rho * m for m in _raw_from_central(c, u)]


def _raw_from_central(c: list, u: float) -> list:
    """Moments of v^k from moments of (v - u)^k, k = 0..3."""
    return [c[0], c[1] + u * c[0], c[2] + 2 * u * c[1] + u * u * c[0],
            c[3] + 3 * u * c[2] + 3 * u * u * c[1] + u**3 * c[0]]


def _full_moments(rho: float, u: float, temp: float) -> list[float]:
    return [rho * m for m in _raw_from_central([1.0, 0.0, temp, 0.0], u)]


def _fields_from_moments(m: list, transverse_energy: Any,
                         heat_flux: bool) -> tuple[np.ndarray, ...]:
    """(rho, u, T[, q_x]) from the moments of f, each of shape (nx,).

    ``m[k] = int v_x^k f dv`` for k = 0..3, ``m[4] = int v_x (v_y^2 + v_z^2)/2 f dv``
    and ``transverse_energy = int (v_y^2 + v_z^2)/2 f dv``.
    """
    rho = m[0]
    u = m[1] / rho
    energy = 0.5 * m[2] + transverse_energy
    temp = (2.0 * energy / rho - u * u) / 3.0
    if not heat_flux:
        return rho, u, temp
    cx3 = m[3] - 3 * u * m[2] + 3 * u * u * m[1] - u**3 * m[0]
    q = 0.5 * cx3 + m[4] - u * transverse_energy
    return rho, u, temp, q


def free_flow_riemann(x: np.ndarray, t: float, left: State, right: State, x0: float = 0.5,
                      vgrid: Any = None, dx: float | None = None, heat_flux: bool = False,
                      maxwellian: str = "sampled") -> tuple[np.ndarray, ...]:
    """Exact collisionless moments of piecewise-Maxwellian Riemann data in 1D-3V.

    The solution is ``f(x, v, t) = f0(x - v_x t, v)`` with ``f0`` the
    Maxwellian of ``left`` for ``x < x0`` and of ``right`` for ``x > x0``.  A
    molecule at ``x`` came from the left exactly when ``v_x > (x - x0) / t``,
    so the v_x integrals are Gaussian tails (erf) and the transverse ones are
    Gaussian moments.

    Parameters
    ----------
    x
        Sample points (or cell centres), shape (nx,).
    t
        Time (>= 0).
    left, right
        ``(rho, u, p)`` of the initial Maxwellians (T = p / rho, no transverse flow).
    x0
        Position of the initial discontinuity.
    vgrid
        None for the continuous solution.  A velocity grid (``v`` (n,) cell
        centres, ``h`` spacing, ``dim`` 1 for the Chu-reduced 1D-1V grid or 3
        for the full grid, as :class:`hpcml.kinetic.grid.VelocityGrid`) gives
        the semi-discrete exact solution: the sampled Maxwellians on that grid,
        transported exactly, moments by the grid's quadrature.  It separates a
        solver's velocity error (this minus the continuous one) from its
        space-time error (solver minus this).
    dx
        With ``vgrid``: return cell averages over ``[x - dx/2, x + dx/2]``
        instead of point values (the moments then come from the cell-averaged
        conserved quantities, as a finite-volume solver holds them).
    heat_flux
        Also return the heat flux ``q_x = int (v_x - u) |v - u|^2 / 2 f dv``.
    maxwellian
        With ``vgrid``: ``"sampled"`` Maxwellians (point values on the grid),
        or ``"discrete"``, the moment-corrected discrete Maxwellians of
        :func:`hpcml.kinetic.bgk.maxwellian_from_state` that the solver starts
        from (their discrete moments equal the states' to round-off).

    Returns
    -------
    rho, u, T (, q)
        Arrays of shape (nx,).
    """
    x = np.asarray(x, dtype=float)
    left, right = _check_state(left, "left"), _check_state(right, "right")
    if t < 0:
        raise ValueError(f"t = {t} must be >= 0")
    if vgrid is not None:
        return _semi_discrete(x, t, left, right, x0, vgrid, dx, heat_flux, maxwellian)
    if dx is not None:
        raise ValueError("dx (cell averages) is only offered with a vgrid")
    xi = (x - x0) / t if t > 0 else np.where(x < x0, -np.inf, np.inf)
    m = [np.zeros_like(x) for _ in range(5)]
    energy_t = np.zeros_like(x)
    for state, from_left in ((left, True), (right, False)):
        rho, u, p = state
        temp = p / rho
        upper = _upper_moments(xi, rho, u, temp)
        part = upper if from_left else [f - up for f, up in zip(_full_moments(rho, u, temp),
                                                                 upper)]
        for k in range(4):
            m[k] += part[k]
        energy_t += temp * part[0]
        m[4] += temp * part[1]
    return _fields_from_moments(m, energy_t, heat_flux)


def _sampled_marginals(state: State, v: np.ndarray, h: float,
                       dim: int) -> tuple[np.ndarray, np.ndarray]:
    """v_x marginal ``g`` and transverse energy ``e`` (n,) of the sampled Maxwellian."""
    rho, u, p = state
    temp = p / rho
    g = rho * np.exp(-0.5 * (v - u) ** 2 / temp) / math.sqrt(2 * math.pi * temp)
    if dim == 1:                                          # Chu: transverse exact
        return g, temp * g
    gt = h * np.exp(-0.5 * v**2 / temp) / math.sqrt(2 * math.pi * temp)
    c0, c2 = gt.sum(), (v**2 * gt).sum()                  # transverse quadrature sums
    return c0 * c0 * g, c0 * c2 * g


def _discrete_marginals(state: State, vgrid: Any) -> tuple[np.ndarray, np.ndarray]:
    """Marginals of the solver's moment-corrected discrete Maxwellian (hpcml.kinetic.bgk)."""
    from hpcml.kinetic.bgk import maxwellian_from_state
    from hpcml.kinetic.grid import CellLayout

    layout = CellLayout(vgrid, "full" if vgrid.dim == 3 else "chu")
    rho, u, p = state
    f = maxwellian_from_state(rho, u, p / rho, layout)
    if vgrid.dim == 1:
        return f[0], f[1]
    v, h = vgrid.v, vgrid.h
    transverse = 0.5 * (v[:, None] ** 2 + v[None, :] ** 2)
    return h * h * f.sum((1, 2)), h * h * np.einsum("iyz,yz->i", f, transverse)


def _semi_discrete(x: np.ndarray, t: float, left: State, right: State, x0: float,
                   vgrid: Any, dx: float | None, heat_flux: bool,
                   maxwellian: str) -> tuple[np.ndarray, ...]:
    """Free flow of the discrete Maxwellians on ``vgrid`` (see :func:`free_flow_riemann`)."""
    v, h, dim = np.asarray(vgrid.v, dtype=float), float(vgrid.h), int(vgrid.dim)
    if dim not in (1, 3):
        raise ValueError(f"vgrid.dim = {dim}: 1 (Chu-reduced) or 3")
    if maxwellian not in ("sampled", "discrete"):
        raise ValueError(f"maxwellian = {maxwellian!r}: 'sampled' or 'discrete'")
    # fraction of the point / cell whose molecules of velocity v_j came from the left
    origin = x0 + v[None, :] * t - x[:, None]            # (nx, n): left iff origin > 0
    if dx is None:
        from_left = np.where(origin > 0, 1.0, np.where(origin < 0, 0.0, 0.5))
    else:
        from_left = np.clip(origin / dx + 0.5, 0.0, 1.0)
    powers = np.vstack([v**k for k in range(4)] + [v]).T  # (n, 5)
    m = np.zeros((x.size, 5))
    energy_t = np.zeros_like(x)
    for state, weight in ((left, from_left), (right, 1.0 - from_left)):
        if maxwellian == "sampled":
            g, e = _sampled_marginals(state, v, h, dim)
        else:
            g, e = _discrete_marginals(state, vgrid)
        m[:, :4] += weight @ (h * g[:, None] * powers[:, :4])
        m[:, 4] += weight @ (h * e * v)
        energy_t += weight @ (h * e)
    return _fields_from_moments(list(m.T), energy_t, heat_flux)


# ---------------------------------------------------------------------------
# BKW solution (space-homogeneous Boltzmann, Maxwell molecules, 3D)
# ---------------------------------------------------------------------------


def bkw_k(t: float | np.ndarray) -> float | np.ndarray:
    """``K(t) = 1 - exp(-t/6)`` of the BKW solution (valid for K >= 3/5)."""
    return 1.0 - np.exp(-np.asarray(t, dtype=float) / 6.0)


def _bkw_terms(v2: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefactor*Gaussian, polynomial bracket, and d(log prefactor*Gaussian)/dK."""
    v2 = np.asarray(v2, dtype=float)
    gauss = np.exp(-0.5 * v2 / k) / (2.0 * (2.0 * math.pi * k) ** 1.5)
    bracket = (5.0 * k - 3.0) / k + (1.0 - k) * v2 / k**2
    return gauss, bracket, -1.5 / k + 0.5 * v2 / k**2


def bkw(v2: np.ndarray, t: float) -> np.ndarray:
    """BKW distribution ``f(|v|^2, t)`` of DESIGN.md (unit density, zero mean, unit T).

    ``f = [2 (2 pi K)^{3/2}]^{-1} exp(-|v|^2 / 2K) [(5K - 3)/K + (1 - K)|v|^2/K^2]``
    with ``K = 1 - exp(-t/6)``; non-negative for ``t >= 6 ln(5/2)`` (K >= 3/5).

    Parameters
    ----------
    v2
        ``|v|^2``, any shape (velocity units squared).
    t
        Time in units of the Maxwell-molecule collision time.
    """
    gauss, bracket, _ = _bkw_terms(v2, float(bkw_k(t)))
    return gauss * bracket


def bkw_dfdt(v2: np.ndarray, t: float) -> np.ndarray:
    """Time derivative ``df/dt = K'(t) df/dK`` of :func:`bkw`, same shape as ``v2``.

    For Maxwell molecules this equals the Boltzmann collision operator
    ``Q(f, f)`` evaluated at the BKW solution, with ``K' = exp(-t/6) / 6``.
    """
    k = float(bkw_k(t))
    gauss, bracket, dlog = _bkw_terms(v2, k)
    v2 = np.asarray(v2, dtype=float)
    dbracket = 3.0 / k**2 + v2 / k**2 - 2.0 * v2 / k**3
    return math.exp(-t / 6.0) / 6.0 * gauss * (dlog * bracket + dbracket)
