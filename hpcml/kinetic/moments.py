"""Moments of a distribution on a :class:`~hpcml.kinetic.grid.CellLayout`.

All functions take ``f`` of shape ``(..., *layout.shape)`` (leading axes are
cells) and return arrays over the leading axes.  Units: density ``rho`` per
unit length, velocities in ``sqrt(R T_ref)``, ``T`` in ``T_ref`` (R = 1), so
``p = rho T`` and the energy density is ``E = rho u**2/2 + 3/2 rho T``.
"""

from __future__ import annotations

import numpy as np

from hpcml.kinetic.grid import CellLayout

#: number of conserved quantities: mass, momentum (x, y, z), energy
N_CONSERVED = 5
#: the names of :func:`macroscopic`'s outputs, in order
MOMENT_NAMES = ("rho", "u", "T", "q", "P")


def conserved(f: np.ndarray, layout: CellLayout) -> np.ndarray:
    """Mass, momentum and energy densities of ``f``.

    Parameters
    ----------
    f
        ``(..., *layout.shape)`` distribution.
    layout
        Its cell layout.

    Returns
    -------
    numpy.ndarray
        ``(..., 5)``: ``rho``, ``rho u_x``, ``rho u_y``, ``rho u_z``, ``E``
        (``rho u_y = rho u_z = 0`` in ``chu`` mode, which has no transverse flow).
    """
    v, w = layout.grid.v, layout.grid.weight
    out = np.zeros(f.shape[: f.ndim - len(layout.shape)] + (N_CONSERVED,))
    v2 = 0.5 * v * v
    if layout.mode == "chu":
        g, h = f[..., 0, :], f[..., 1, :]
        out[..., 0] = g.sum(-1)
        out[..., 1] = g @ v
        out[..., 4] = g @ v2 + h.sum(-1)
    else:
        fx = f.sum((-2, -1))
        fy = f.sum((-3, -1))
        fz = f.sum((-3, -2))
        out[..., 0] = fx.sum(-1)
        out[..., 1] = fx @ v
        out[..., 2] = fy @ v
        out[..., 3] = fz @ v
        out[..., 4] = fx @ v2 + fy @ v2 + fz @ v2
    out *= w
    return out


def primitive(cons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rho, u, T)`` from conserved densities ``(..., 5)``; ``u`` is ``(..., 3)``."""
    rho = cons[..., 0]
    u = cons[..., 1:4] / rho[..., None]
    T = (2.0 * cons[..., 4] / rho - (u * u).sum(-1)) / 3.0
    return rho, u, T


def macroscopic(f: np.ndarray, layout: CellLayout) -> dict[str, np.ndarray]:
    """Density, x-velocity, temperature, heat flux and stress of ``f``.

    Returns
    -------
    dict
        ``rho``, ``u`` (``u_x``), ``T``, ``q`` (heat flux
        ``q_x = int (v_x - u_x) |v - u|**2 / 2 f dv``) and ``P`` (stress
        ``P_xx = int (v_x - u_x)**2 f dv``), each of shape ``f.shape[:-k]``
        where ``k = len(layout.shape)``.
    """
    cons = conserved(f, layout)
    rho, u, T = primitive(cons)
    v, w = layout.grid.v, layout.grid.weight
    c = v - u[..., 0:1]  # (..., n) peculiar x-velocity
    if layout.mode == "chu":
        g, h = f[..., 0, :], f[..., 1, :]
        q = (c * (0.5 * c * c * g + h)).sum(-1)
        P = (c * c * g).sum(-1)
    else:
        cy = v - u[..., 1:2]
        cz = v - u[..., 2:3]
        fxy = f.sum(-1)
        fxz = f.sum(-2)
        fx = fxy.sum(-1)
        P = (c * c * fx).sum(-1)
        q = 0.5 * (c**3 * fx).sum(-1)
        q += 0.5 * np.einsum("...i,...j,...ij->...", c, cy * cy, fxy)
        q += 0.5 * np.einsum("...i,...k,...ik->...", c, cz * cz, fxz)
    return {"rho": rho, "u": u[..., 0], "T": T, "q": q * w, "P": P * w}
