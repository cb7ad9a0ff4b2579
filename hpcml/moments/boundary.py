"""Ghost-cell fills of the moment solver's physical ends (the kinetic solver's kinds).

A block ``qg (n + 4, n_vars)`` has two ghost cells per side.  The kinds are
those of :mod:`hpcml.kinetic.boundary`, applied to moments instead of ``f``:

* ``outflow``: copies of the edge cell (zero gradient);
* ``inflow``: the moments of the Maxwellian of a given state (``rho, u, T``);
* ``wall``: specular reflection, ghost ``k`` mirrors interior cell ``k`` with
  ``v_x -> -v_x``, i.e. each column times its parity (``rho u`` and the odd
  moments change sign), so mass and energy fluxes through the wall vanish;
* ``periodic``: filled by the neighbour exchange, not here.
"""

from __future__ import annotations

import numpy as np

from hpcml.kinetic.boundary import KINDS


def fill_ghosts(qg: np.ndarray, side: str, kind: str, parity: np.ndarray,
                inflow: np.ndarray | None = None) -> None:
    """Fill the two ghost cells of ``qg`` on ``side`` (``"left"`` or ``"right"``) in place.

    Parameters
    ----------
    qg
        ``(n + 4, n_vars)`` ghosted block of states.
    side
        ``"left"`` (rows 0, 1) or ``"right"`` (rows -1, -2).
    kind
        ``outflow``, ``inflow`` or ``wall``.
    parity
        ``(n_vars,)`` sign of each column under ``v_x -> -v_x``.
    inflow
        ``(n_vars,)`` state entering at an ``inflow`` end.
    """
    ghosts, interior = ((1, 0), (2, 3)) if side == "left" else ((-2, -1), (-3, -4))
    if kind == "outflow":
        qg[ghosts[0]] = qg[interior[0]]
        qg[ghosts[1]] = qg[interior[0]]
    elif kind == "inflow":
        if inflow is None:
            raise ValueError("inflow boundary needs the inflow state")
        qg[ghosts[0]] = inflow
        qg[ghosts[1]] = inflow
    elif kind == "wall":
        for g, i in zip(ghosts, interior):
            qg[g] = qg[i] * parity
    else:
        raise ValueError(f"boundary kind {kind!r} cannot be filled locally; choose one of "
                         f"{KINDS}")
