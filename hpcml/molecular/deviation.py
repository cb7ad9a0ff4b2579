"""Committee (model) deviation of an ensemble's predictions, as in DP-GEN.

For members ``k`` and atoms ``i``: ``eps_i = sqrt(mean_k |f_i^k - <f_i>|^2)``;
a frame's ``max_devi_f`` is ``max_i eps_i``.  Virial deviation: the standard
deviation of each virial component over members, divided by the atom count.
"""

from __future__ import annotations

import numpy as np


def force_deviation(forces: np.ndarray) -> dict[str, float]:
    """Max, min and mean over atoms of the force deviation.

    Parameters
    ----------
    forces
        (K, natoms, 3) eV/A, one row block per ensemble member.

    Returns
    -------
    dict
        ``max_devi_f``, ``min_devi_f``, ``avg_devi_f`` in eV/A.
    """
    forces = np.asarray(forces, np.float64)
    eps = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
    return {"max_devi_f": float(eps.max()), "min_devi_f": float(eps.min()),
            "avg_devi_f": float(eps.mean())}


def virial_deviation(virials: np.ndarray, natoms: int) -> dict[str, float]:
    """Max, min and mean over the 9 components of the virial deviation per atom.

    Parameters
    ----------
    virials
        (K, 3, 3) eV.
    natoms
        Atoms in the frame.
    """
    std = np.asarray(virials, np.float64).reshape(len(virials), 9).std(axis=0) / natoms
    return {"max_devi_v": float(std.max()), "min_devi_v": float(std.min()),
            "avg_devi_v": float(std.mean())}
