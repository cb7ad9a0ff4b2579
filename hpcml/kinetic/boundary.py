"""Ghost-cell fills for the physical ends of the x domain.

A block ``fg (nx + 4, *cell)`` has two ghost cells on each side; these
functions fill one side's ghosts from the interior (``outflow``, ``wall``) or
from a given distribution (``inflow``).  ``periodic`` ends are filled by the
neighbour exchange (a copy in the serial solver, the DMDA in the PETSc one).
"""

from __future__ import annotations

import numpy as np

from hpcml.kinetic.grid import CellLayout

KINDS = ("periodic", "outflow", "inflow", "wall")


def reflect_vx(f: np.ndarray, layout: CellLayout) -> np.ndarray:
    """``f(v_x -> -v_x)``: a view with the v_x axis reversed (the grid is symmetric)."""
    axis = -3 if layout.mode == "full" else -1
    index = [slice(None)] * f.ndim
    index[axis] = slice(None, None, -1)
    return f[tuple(index)]


def fill_ghosts(fg: np.ndarray, side: str, kind: str, layout: CellLayout,
                inflow: np.ndarray | None = None) -> None:
    """Fill the two ghost cells of ``fg`` on ``side`` (``"left"`` or ``"right"``).

    Parameters
    ----------
    fg
        ``(nx + 4, *layout.shape)`` ghosted block; modified in place.
    side
        ``"left"`` (cells 0, 1) or ``"right"`` (cells -1, -2).
    kind
        ``outflow`` (zero gradient: copies of the edge cell), ``inflow``
        (the given distribution, e.g. a Maxwellian), ``wall`` (specular
        reflection: ghost ``k`` is the mirror of interior cell ``k`` with
        ``v_x`` reversed, so the mass and energy fluxes through the wall vanish).
    layout
        Cell layout (for the reflection).
    inflow
        ``layout.shape`` distribution for ``inflow``.
    """
    # ghost indices, nearest first, and the interior cells they mirror
    ghosts, interior = ((1, 0), (2, 3)) if side == "left" else ((-2, -1), (-3, -4))
    if kind == "outflow":
        fg[ghosts[0]] = fg[interior[0]]
        fg[ghosts[1]] = fg[interior[0]]
    elif kind == "inflow":
        if inflow is None:
            raise ValueError("inflow boundary needs the inflow distribution")
        fg[ghosts[0]] = inflow
        fg[ghosts[1]] = inflow
    elif kind == "wall":
        for g, i in zip(ghosts, interior):
            fg[g] = reflect_vx(fg[i], layout)
    else:
        raise ValueError(f"boundary kind {kind!r} cannot be filled locally; "
                         f"choose one of {KINDS}")
