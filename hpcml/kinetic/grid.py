"""Velocity grids and the layout of one cell's distribution.

A :class:`VelocityGrid` is a uniform cell-centred grid, the same in each of
``dim`` directions.  :class:`CellLayout` says how the per-cell unknowns
("dof" of the DMDA) are arranged for a kinetic mode:

* ``full``: the 3D grid, ``f[..., ix, iy, iz]`` for ``(v_x, v_y, v_z)``,
  quadrature weight ``h**3``; ``n**3`` unknowns per cell.
* ``chu``: the Chu-reduced 1D-1V pair ``g = int f dv_y dv_z`` and
  ``h = int (v_y**2 + v_z**2)/2 f dv_y dv_z``, stored as ``f[..., 0, :] = g``
  and ``f[..., 1, :] = h``; ``2 n`` unknowns per cell, weight ``h_v``.
  Exact for BGK in 1D problems without transverse flow.

Units: velocities in units of ``sqrt(R T_ref)`` (R = 1), so a Maxwellian at
temperature T has variance T per direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODES = ("full", "chu")


class VelocityGrid:
    """Uniform cell-centred velocity grid, the same in each of ``dim`` directions.

    ``dim`` 1 is the Chu-reduced 1D-1V grid, ``dim`` 3 the full 3D grid.

    Attributes
    ----------
    n : int
        Points per direction.
    vmax : float
        Half-width of the box ``[-vmax, vmax)`` per direction.
    dim : int
        1 or 3.
    h : float
        Spacing ``2 vmax / n``.
    v : numpy.ndarray
        ``(n,)`` points ``-vmax + (j + 1/2) h``.

    Examples
    --------
    >>> VelocityGrid(4, 2.0, dim=1).v
    array([-1.5, -0.5,  0.5,  1.5])
    """

    def __init__(self, n: int, vmax: float, dim: int = 3):
        if n < 2:
            raise ValueError(f"velocity grid needs n >= 2 points, got {n}")
        if not vmax > 0:
            raise ValueError(f"velocity box half-width vmax must be > 0, got {vmax}")
        if dim not in (1, 3):
            raise ValueError(f"velocity grid dim must be 1 or 3, got {dim}")
        self.n = int(n)
        self.vmax = float(vmax)
        self.dim = int(dim)
        self.h = 2.0 * self.vmax / self.n
        self.v = -self.vmax + (np.arange(self.n) + 0.5) * self.h

    @property
    def weight(self) -> float:
        """Quadrature weight of one velocity point, ``h**dim``."""
        return self.h**self.dim

    def __repr__(self) -> str:
        return f"VelocityGrid(n={self.n}, vmax={self.vmax}, dim={self.dim})"


@dataclass(frozen=True)
class CellLayout:
    """Arrangement of one cell's unknowns for a kinetic ``mode`` on ``grid``.

    Attributes
    ----------
    grid : VelocityGrid
        The velocity grid (``dim`` 3 for ``full``, 1 for ``chu``).
    mode : str
        ``"full"`` or ``"chu"``.
    shape : tuple of int
        Per-cell array shape: ``(n, n, n)`` or ``(2, n)``.
    vx : numpy.ndarray
        ``v_x`` broadcastable against ``shape``.
    """

    grid: VelocityGrid
    mode: str
    shape: tuple[int, ...] = field(init=False)
    vx: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        n, g = self.grid.n, self.grid
        if self.mode == "full":
            if g.dim != 3:
                raise ValueError("mode 'full' needs a 3D velocity grid (dim=3)")
            shape, vx = (n, n, n), g.v[:, None, None]
        elif self.mode == "chu":
            if g.dim != 1:
                raise ValueError("mode 'chu' needs a 1D velocity grid (dim=1)")
            shape, vx = (2, n), g.v[None, :]
        else:
            raise ValueError(f"unknown kinetic mode {self.mode!r}; choose one of {MODES}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "vx", vx)

    @classmethod
    def make(cls, mode: str, n: int, vmax: float) -> CellLayout:
        """Layout of ``mode`` on a grid of ``n`` points per direction in ``[-vmax, vmax)``."""
        return cls(VelocityGrid(n, vmax, dim=3 if mode == "full" else 1), mode)

    @property
    def dof(self) -> int:
        """Unknowns per cell (the DMDA's dof)."""
        return int(np.prod(self.shape))

    def velocity_powers(self) -> tuple[np.ndarray, ...]:
        """``(v_x, v_y, v_z)`` broadcastable against :attr:`shape` (full mode only)."""
        v = self.grid.v
        return v[:, None, None], v[None, :, None], v[None, None, :]
