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


def minmod(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
           tmp: np.ndarray | None = None) -> np.ndarray:
    """Minmod slope: the smaller of ``a``, ``b`` in modulus when they agree in sign, else 0."""
    out = np.empty_like(a) if out is None else out
    tmp = np.empty_like(a) if tmp is None else tmp
    np.abs(a, out=out)
    np.abs(b, out=tmp)
    np.minimum(out, tmp, out=out)
    np.multiply(a, b, out=tmp)
    np.greater(tmp, 0.0, out=tmp)          # 1.0 where a and b agree in sign
    out *= tmp
    np.copysign(out, a, out=out)
    return out


def mc(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
       tmp: np.ndarray | None = None) -> np.ndarray:
    """Monotonized-central slope ``minmod(2a, 2b, (a + b)/2)``."""
    out = np.empty_like(a) if out is None else out
    tmp = np.empty_like(a) if tmp is None else tmp
    np.add(a, b, out=out)
    np.abs(out, out=out)
    out *= 0.25                             # |a + b| / 4 ...
    np.abs(a, out=tmp)
    np.minimum(out, tmp, out=out)
    np.abs(b, out=tmp)
    np.minimum(out, tmp, out=out)
    out *= 2.0                              # ... min(2|a|, 2|b|, |a + b|/2)
    np.multiply(a, b, out=tmp)
    np.greater(tmp, 0.0, out=tmp)
    out *= tmp
    np.copysign(out, a, out=out)
    return out


LIMITERS = {"minmod": minmod, "mc": mc}


class TransportWork:
    """Reusable buffers for :func:`transport_step` (one per block shape)."""

    def __init__(self):
        self._bufs: dict = {}

    def velocity_parts(self, vx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(max(vx, 0), min(vx, 0))``, cached for the last ``vx``."""
        if self._bufs.get("_vx") is not vx:   # the reference held here keeps the id unique
            self._bufs["_vx"] = vx
            self._bufs["_vparts"] = (np.maximum(vx, 0.0), np.minimum(vx, 0.0))
        return self._bufs["_vparts"]

    def get(self, name: str, shape: tuple) -> np.ndarray:
        """A float64 buffer called ``name`` of ``shape`` (a view of one allocated once)."""
        buf = self._bufs.get(name)
        if buf is None or buf.shape[1:] != shape[1:] or buf.shape[0] < shape[0]:
            buf = self._bufs[name] = np.empty(shape)
        return buf[: shape[0]]


#: target number of values per block of cells: the temporaries of one block stay in cache
BLOCK_VALUES = 1 << 17


def transport_step(f_ghosted: np.ndarray, vx: np.ndarray, dt_over_dx: float,
                   limiter: str = "mc", out: np.ndarray | None = None,
                   edge_flux: np.ndarray | None = None,
                   work: TransportWork | None = None) -> np.ndarray:
    """One forward-Euler stage of limited second-order upwind transport.

    Works through blocks of cells (about :data:`BLOCK_VALUES` values each) so
    that its temporaries stay in cache and memory sees little more than one
    read of ``f`` and one write of the result.

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
    out = np.empty((n, *cell)) if out is None else out
    vp, vm = work.velocity_parts(vx)
    step = max(1, BLOCK_VALUES // max(1, int(np.prod(cell))))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        flux = _block(f_ghosted[i0:i1 + 2 * GHOSTS], vp, vm, dt_over_dx, limiter, out[i0:i1],
                      work)
        if edge_flux is not None and i0 == 0:
            edge_flux[0] = flux[0]
        if edge_flux is not None and i1 == n:
            edge_flux[1] = flux[-1]
    return out


def _block(fg: np.ndarray, vp: np.ndarray, vm: np.ndarray, nu: float, limiter: str,
           out: np.ndarray, work: TransportWork) -> np.ndarray:
    """Update ``out`` ``(m, *cell)`` from ``fg`` ``(m + 4, *cell)``; return the ``m + 1`` fluxes."""
    m, cell = fg.shape[0] - 2 * GHOSTS, fg.shape[1:]
    d = work.get("d", (m + 3, *cell))
    np.subtract(fg[1:], fg[:-1], out=d)                          # d_{i+1/2}
    s = work.get("s", (m + 2, *cell))
    LIMITERS[limiter](d[:-1], d[1:], out=s, tmp=work.get("t", (m + 2, *cell)))
    s *= 0.5                                                     # half slopes
    flux = work.get("flux", (m + 1, *cell))                      # faces between cells 1..m+2
    tmp = work.get("tmp", (m + 1, *cell))
    np.add(fg[1:m + 2], s[:-1], out=flux)
    flux *= vp
    np.subtract(fg[2:m + 3], s[1:], out=tmp)
    tmp *= vm
    flux += tmp
    np.subtract(flux[1:], flux[:-1], out=out)
    out *= -nu
    out += fg[GHOSTS:GHOSTS + m]
    return flux
