"""Numerical fluxes of the moment solver: MUSCL on primitive variables, Rusanov or HLL.

A block of ``n`` cells comes with two ghost cells per side, ``(n + 4, n_vars)``
primitive states.  :func:`reconstruct` gives the left and right states at the
``n + 1`` faces of the ``n`` interior cells: limited slopes
``s_i = limiter(P_i - P_{i-1}, P_{i+1} - P_i)`` (MC or minmod, the kinetic
solver's limiters, :mod:`hpcml.kinetic.transport`), face values
``P_i + s_i/2`` and ``P_{i+1} - s_{i+1}/2``.  Limiting the primitive variables
keeps the face densities and temperatures between those of the neighbours
(so positive).  :func:`face_fluxes` converts them to states and applies the
Riemann flux:

* Rusanov: ``(F_L + F_R)/2 - a (q_R - q_L)/2``, ``a`` the largest
  ``|speed|`` of the two states;
* HLL: ``(S_R F_L - S_L F_R + S_L S_R (q_R - q_L)) / (S_R - S_L)`` with
  ``S_L = min`` and ``S_R = max`` of the two states' speed bounds (upwind
  when both have one sign).

Fluxes are in the units of the state per unit time.
"""

from __future__ import annotations

import numpy as np

from hpcml.kinetic.transport import LIMITERS
from hpcml.moments.closure import Closure

#: Riemann fluxes (the ``-moments_flux`` option)
FLUXES = ("rusanov", "hll")


def reconstruct(prim_g: np.ndarray, limiter: str) -> tuple[np.ndarray, np.ndarray]:
    """Left and right face states ``(n + 1, n_vars)`` of the interior of ``prim_g``.

    Parameters
    ----------
    prim_g
        ``(n + 4, n_vars)`` primitive states, two ghost cells per side.
    limiter
        ``mc`` or ``minmod``.
    """
    if limiter not in LIMITERS:
        raise ValueError(f"unknown limiter {limiter!r}; choose one of {sorted(LIMITERS)}")
    d = np.diff(prim_g, axis=0)                             # (n + 3): P_{k+1} - P_k
    s = LIMITERS[limiter](d[:-1], d[1:])                     # slopes of cells 1 .. n + 2
    n = prim_g.shape[0] - 4
    left = prim_g[1:n + 2] + 0.5 * s[: n + 1]
    right = prim_g[2:n + 3] - 0.5 * s[1: n + 2]
    return left, right


def _largest_speed(speeds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``max(|lower|, |upper|)`` ``(nf,)`` of a ``(lower, upper)`` pair of speed bounds."""
    out = np.abs(speeds[0])
    return np.maximum(out, np.abs(speeds[1]), out=out)


def rusanov(fl: np.ndarray, fr: np.ndarray, ql: np.ndarray, qr: np.ndarray,
            speeds_l: tuple, speeds_r: tuple) -> np.ndarray:
    """Rusanov (local Lax-Friedrichs) flux ``(nf, n_vars)`` from the two states' fluxes/speeds.

    Written into ``fl`` (returned).
    """
    a = np.maximum(_largest_speed(speeds_l), _largest_speed(speeds_r))
    jump = np.subtract(qr, ql)
    jump *= a[:, None]
    out = np.add(fl, fr, out=fl)
    out -= jump
    out *= 0.5
    return out


def hll(fl: np.ndarray, fr: np.ndarray, ql: np.ndarray, qr: np.ndarray,
        speeds_l: tuple, speeds_r: tuple) -> np.ndarray:
    """HLL flux ``(nf, n_vars)`` with Davis' bounds ``S_L = min``, ``S_R = max`` of the speeds.

    The bounds are clamped to ``S_L <= 0 <= S_R``, so one formula covers the
    upwind cases (``S_L >= 0`` gives ``F_L``, ``S_R <= 0`` gives ``F_R``).
    Written into ``fl`` (returned).
    """
    sl = np.minimum(np.minimum(speeds_l[0], speeds_r[0]), 0.0)
    sr = np.maximum(np.maximum(speeds_l[1], speeds_r[1]), 0.0)
    width = sr - sl
    width[~(width > 0)] = 1.0                               # both zero: F_L = F_R here
    out = np.multiply(fl, sr[:, None], out=fl)
    out -= fr * sl[:, None]
    out += (qr - ql) * (sl * sr)[:, None]
    out /= width[:, None]
    return out


RIEMANN = {"rusanov": rusanov, "hll": hll}


def face_fluxes(closure: Closure, prim_g: np.ndarray, limiter: str = "mc",
                kind: str = "rusanov") -> np.ndarray:
    """Numerical fluxes ``(n + 1, n_vars)`` at the faces of the interior cells of ``prim_g``.

    ``prim_g`` is ``(n + 4, n_vars)`` (two ghosts per side); face ``k`` is the
    left face of interior cell ``k`` (face ``n`` the right face of the last).
    """
    if kind not in RIEMANN:
        raise ValueError(f"unknown Riemann flux {kind!r}; choose one of {FLUXES}")
    pl, pr = reconstruct(prim_g, limiter)
    ql, qr = closure.conserved(pl), closure.conserved(pr)
    return RIEMANN[kind](closure.flux(ql, pl), closure.flux(qr, pr), ql, qr,
                         closure.wave_speeds(ql, pl), closure.wave_speeds(qr, pr))
