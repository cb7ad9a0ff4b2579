"""Physics-invariant checks that every hpcml energy model must pass.

Each check takes an ``evaluate(coord, cell, atype) -> dict`` callable that
returns ``energy`` (eV), ``force`` (natoms, 3) eV/A and optionally
``virial`` (3, 3) eV for one frame, plus the frame, and returns the largest
discrepancy it found (a float, to be compared with a tolerance from
:data:`TOLERANCES`).  They raise nothing themselves, so tests can state the
tolerance they hold the model to.  Used by ``tests/unit/test_molecular_*``
and available to users testing their own models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Evaluate = Callable[[np.ndarray, np.ndarray | None, np.ndarray], dict]

#: Tolerances per dtype: (absolute for energies/forces, finite-difference).
TOLERANCES = {"float64": {"exact": 1e-10, "fd": 1e-6}, "float32": {"exact": 1e-4, "fd": 2e-2}}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix (3, 3)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def force_vs_finite_difference(evaluate: Evaluate, coord: np.ndarray, cell: np.ndarray | None,
                               atype: np.ndarray, atoms: list[int], h: float = 1e-4) -> float:
    """Largest |F - (-dE/dx)| over the given atoms, central differences of step ``h`` A."""
    force = evaluate(coord, cell, atype)["force"]
    worst = 0.0
    for i in atoms:
        for k in range(3):
            plus, minus = coord.copy(), coord.copy()
            plus[i, k] += h
            minus[i, k] -= h
            fd = -(evaluate(plus, cell, atype)["energy"]
                   - evaluate(minus, cell, atype)["energy"]) / (2 * h)
            worst = max(worst, abs(fd - force[i, k]))
    return worst


def virial_vs_strain_derivative(evaluate: Evaluate, coord: np.ndarray, cell: np.ndarray,
                                atype: np.ndarray, h: float = 1e-5) -> float:
    """Largest |W - (-dE/d eps)| with coordinates and cell strained by ``I + eps``."""
    virial = evaluate(coord, cell, atype)["virial"]
    worst = 0.0
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = h
            e_plus = evaluate(coord @ (np.eye(3) + eps).T, cell @ (np.eye(3) + eps).T,
                              atype)["energy"]
            e_minus = evaluate(coord @ (np.eye(3) - eps).T, cell @ (np.eye(3) - eps).T,
                               atype)["energy"]
            worst = max(worst, abs(-(e_plus - e_minus) / (2 * h) - virial[a, b]))
    return worst


def rotation_translation_error(evaluate: Evaluate, coord: np.ndarray, cell: np.ndarray | None,
                               atype: np.ndarray, rng: np.random.Generator) -> float:
    """Largest change of energy and of (rotated) forces under a rigid motion."""
    rot, shift = random_rotation(rng), rng.normal(size=3) * 3.0
    base = evaluate(coord, cell, atype)
    moved = evaluate(coord @ rot.T + shift, None if cell is None else cell @ rot.T, atype)
    return max(abs(moved["energy"] - base["energy"]),
               float(np.abs(moved["force"] - base["force"] @ rot.T).max()))


def permutation_error(evaluate: Evaluate, coord: np.ndarray, cell: np.ndarray | None,
                      atype: np.ndarray, rng: np.random.Generator) -> float:
    """Largest change of energy and (permuted) forces when atoms are reordered."""
    perm = rng.permutation(len(coord))
    base = evaluate(coord, cell, atype)
    moved = evaluate(coord[perm], cell, atype[perm])
    return max(abs(moved["energy"] - base["energy"]),
               float(np.abs(moved["force"] - base["force"][perm]).max()))


def extensivity_error(evaluate: Evaluate, coord: np.ndarray, atype: np.ndarray,
                      separation: float) -> float:
    """|E(A + far copy of A) - 2 E(A)| for an open cluster (no cell)."""
    single = evaluate(coord, None, atype)["energy"]
    far = coord + np.array([separation, 0.0, 0.0])
    double = evaluate(np.concatenate([coord, far]), None, np.concatenate([atype, atype]))
    return abs(double["energy"] - 2 * single)


def cutoff_smoothness(evaluate: Evaluate, rcut: float, atype: tuple[int, int] = (0, 0),
                      n: int = 41, width: float = 0.02) -> tuple[float, float]:
    """Energy and force of a dimer just inside minus just outside ``rcut``.

    Returns ``(max |E(r) - E(rcut)|, max |F(r)|)`` for ``r`` in
    ``[rcut - width, rcut + width]``: both go to zero for a smooth cutoff.
    """
    types = np.array(atype)
    far = evaluate(np.array([[0.0, 0, 0], [rcut + 1.0, 0, 0]]), None, types)["energy"]
    d_e = d_f = 0.0
    for r in np.linspace(rcut - width, rcut + width, n):
        out = evaluate(np.array([[0.0, 0, 0], [r, 0, 0]]), None, types)
        d_e, d_f = max(d_e, abs(out["energy"] - far)), max(d_f, float(np.abs(out["force"]).max()))
    return d_e, d_f
