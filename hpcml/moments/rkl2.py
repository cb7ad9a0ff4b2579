"""RKL2 super-time-stepping for the parabolic (viscous) part of the moment system.

Meyer, Balsara and Aslam, J. Comput. Phys. 257 (2014) 594: the second-order
Runge-Kutta-Legendre method with ``s`` stages is stable for a step up to
``dt_explicit (s**2 + s - 2) / 4``, where ``dt_explicit`` is the forward-Euler
limit ``dx**2 / (2 D)``; so the viscous terms of the Navier-Stokes closure
never restrict the hyperbolic CFL step, at ``s ~ sqrt(4 dt/dt_explicit)``
evaluations of the viscous operator.  Each stage is

    Y_j = mu_j Y_{j-1} + nu_j Y_{j-2} + (1 - mu_j - nu_j) Y_0
          + mu~_j dt L(Y_{j-1}) + gamma~_j dt L(Y_0),

a linear combination of flux differences, so what leaves through the ends is
tracked by the same recurrence and the total is conserved to round-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: a rate: ``L(Y)`` ``(n, n_vars)`` and the net outflow through the ends ``(n_vars,)``
Rate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def stages_for(ratio: float) -> int:
    """The fewest stages ``s >= 2`` with ``(s**2 + s - 2)/4 >= ratio = dt/dt_explicit``."""
    s = max(2, math.ceil((-1.0 + math.sqrt(9.0 + 16.0 * max(ratio, 0.0))) / 2.0))
    while (s * s + s - 2) / 4.0 < ratio:      # guard the square root's round-off
        s += 1
    return s


def coefficients(s: int) -> list[tuple[float, float, float, float]]:
    """``(mu_j, nu_j, mu~_j, gamma~_j)`` for ``j = 1 .. s`` (``mu_1 = nu_1 = gamma~_1 = 0``)."""
    if s < 2:
        raise ValueError(f"RKL2 needs s >= 2 stages, got {s}")
    b = [1.0 / 3.0] * 3 + [(j * j + j - 2.0) / (2.0 * j * (j + 1.0)) for j in range(3, s + 1)]
    w1 = 4.0 / (s * s + s - 2.0)
    out = [(0.0, 0.0, b[1] * w1, 0.0)]
    for j in range(2, s + 1):
        mu = (2.0 * j - 1.0) / j * b[j] / b[j - 1]
        nu = -(j - 1.0) / j * b[j] / b[j - 2]
        out.append((mu, nu, mu * w1, -(1.0 - b[j - 1]) * mu * w1))
    return out


def rkl2_step(y0: np.ndarray, dt: float, s: int, rate: Rate,
              buffers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Advance ``y0`` (in place) by ``dt`` with ``s`` RKL2 stages of ``dy/dt = L(y)``.

    Parameters
    ----------
    y0
        ``(n, n_vars)`` state; overwritten with the result.
    dt
        Step (time units); stable for ``dt <= dt_explicit (s**2 + s - 2)/4``.
    s
        Number of stages (:func:`stages_for`).
    rate
        ``y -> (L(y), b)`` with ``sum(L) dx = -b``; it is called with ``y0``
        and the buffers only (the PETSc twin ghosts them by identity).
    buffers
        Three arrays like ``y0``.

    Returns
    -------
    numpy.ndarray
        ``(n_vars,)``: what flowed out through the ends over the step
        (flux x time), so that ``sum(y) dx + out`` equals the old total.
    """
    coef = coefficients(s)
    l0, b0 = rate(y0)
    l0 = l0.copy()
    older, old, new = buffers
    older[...] = y0
    np.multiply(l0, coef[0][2] * dt, out=old)
    old += y0
    out_older, out_old = np.zeros_like(b0), coef[0][2] * dt * b0
    for mu, nu, mut, gt in coef[1:]:
        lj, bj = rate(old)
        np.multiply(old, mu, out=new)
        new += nu * older + (1.0 - mu - nu) * y0 + (mut * dt) * lj + (gt * dt) * l0
        out_new = mu * out_old + nu * out_older + dt * (mut * bj + gt * b0)
        older, old, new = old, new, older
        out_older, out_old = out_old, out_new
    y0[...] = old
    return out_old
