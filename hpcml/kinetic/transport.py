"""Second-order finite-volume upwind transport ``df/dt + v_x df/dx = 0``.

Hot kernel (for bench/bench_kinetic.py): :func:`transport_step`, one forward
Euler stage on a ghosted block, ``O(nx * dof)``; it works in preallocated
buffers (pass ``work=TransportWork()`` to reuse them across calls).

MUSCL reconstruction: cell slopes ``s_i = limiter(f_i - f_{i-1}, f_{i+1} - f_i)``,
face values ``f_i + s_i/2`` (from the left) and ``f_{i+1} - s_{i+1}/2`` (from
the right), upwind flux ``v_x^+ f_L + v_x^- f_R``.

Positivity (and TVD) under the CFL bound: one stage writes
``f_i^new = (1 - nu C) f_i + nu C f_{i-1}`` (for ``v_x > 0``) with
``nu = |v_x| dt/dx`` and ``0 <= C <= 1 + (max s/Delta)/2``, so it is a convex
combination when ``nu <= 1/2`` (MC, slopes up to twice a one-sided
difference) or ``nu <= 2/3`` (minmod).  SSP-RK2 (Heun) is a convex
combination of two such stages and keeps the same bound: :data:`CFL_LIMIT`.
"""

from __future__ import annotations

import numpy as np

#: the largest max|v_x| dt/dx for which a stage (and SSP-RK2) keeps f >= 0
CFL_LIMIT = {"minmod": 2.0 / 3.0, "mc": 0.5}
#: ghost cells needed on each side
GHOSTS = 2


def minmod(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Minmod slope: the smaller of ``a``, ``b`` in modulus when they agree in sign, else 0."""
    out = np.empty_like(a) if out is None else out
    np.copysign(np.minimum(np.abs(a), np.abs(b)), a, out=out)
    out[(a * b) <= 0] = 0.0
    return out


def mc(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Monotonized-central slope ``minmod(2a, 2b, (a + b)/2)``."""
    out = np.empty_like(a) if out is None else out
    m = np.minimum(np.abs(a), np.abs(b))
    m *= 2.0
    np.minimum(m, 0.5 * np.abs(a + b), out=m)
    np.copysign(m, a, out=out)
    out[(a * b) <= 0] = 0.0
    return out


LIMITERS = {"minmod": minmod, "mc": mc}


class TransportWork:
    """Reusable buffers for :func:`transport_step` (one per block shape)."""

    def __init__(self):
        self._bufs: dict = {}

    def get(self, name: str, shape: tuple) -> np.ndarray:
        """A float64 buffer called ``name`` of ``shape`` (allocated once)."""
        buf = self._bufs.get(name)
        if buf is None or buf.shape != shape:
            buf = self._bufs[name] = np.empty(shape)
        return buf


def transport_step(f_ghosted: np.ndarray, vx: np.ndarray, dt_over_dx: float,
                   limiter: str = "mc", out: np.ndarray | None = None,
                   edge_flux: np.ndarray | None = None,
                   work: TransportWork | None = None) -> np.ndarray:
    """One forward-Euler stage of limited second-order upwind transport.

    Parameters
    ----------
    f_ghosted
        ``(nx + 4, *cell)`` block with two ghost cells on each side.
    vx
        x-velocities broadcastable against ``cell`` (e.g. ``(n, 1, 1)`` or ``(1, n)``).
    dt_over_dx
        ``dt / dx``; stable and positive while ``max|vx| dt/dx <= CFL_LIMIT[limiter]``.
    limiter
        ``"mc"`` or ``"minmod"``.
    out
        Optional ``(nx, *cell)`` result array (must not alias ``f_ghosted``).
    edge_flux
        Optional ``(2, *cell)`` array that receives the fluxes ``v_x f`` through
        the block's left and right faces (for conservation bookkeeping).
    work
        Optional buffers reused across calls.

    Returns
    -------
    numpy.ndarray
        ``(nx, *cell)``: ``f - dt/dx (F_{i+1/2} - F_{i-1/2})`` on the interior.
    """
    if limiter not in LIMITERS:
        raise ValueError(f"unknown limiter {limiter!r}; choose one of {sorted(LIMITERS)}")
    work = TransportWork() if work is None else work
    n = f_ghosted.shape[0] - 2 * GHOSTS
    cell = f_ghosted.shape[1:]
    d = work.get("d", (n + 3, *cell))
    np.subtract(f_ghosted[1:], f_ghosted[:-1], out=d)           # d_{i+1/2}
    s = work.get("s", (n + 2, *cell))
    LIMITERS[limiter](d[:-1], d[1:], out=s)                     # slopes of cells 1..n+2
    s *= 0.5
    vp, vm = np.maximum(vx, 0.0), np.minimum(vx, 0.0)
    flux = work.get("flux", (n + 1, *cell))                     # faces between cells 1..n+2
    tmp = work.get("tmp", (n + 1, *cell))
    np.add(f_ghosted[1:n + 2], s[:-1], out=flux)
    flux *= vp
    np.subtract(f_ghosted[2:n + 3], s[1:], out=tmp)
    tmp *= vm
    flux += tmp
    if edge_flux is not None:
        edge_flux[0] = flux[0]
        edge_flux[1] = flux[-1]
    out = np.empty((n, *cell)) if out is None else out
    np.subtract(flux[1:], flux[:-1], out=out)
    out *= -dt_over_dx
    out += f_ghosted[GHOSTS:GHOSTS + n]
    return out
