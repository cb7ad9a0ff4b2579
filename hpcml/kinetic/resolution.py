"""The velocity resolution a Knudsen number needs (``kinetic.velocity.n`` when it is not set).

Near the Euler limit collisions keep ``f`` close to a smooth Maxwellian and a
coarse velocity grid is exact enough; towards free molecular flow ``f`` keeps
the jumps of the initial data in ``v`` and the discrete velocities turn them
into a staircase in ``x`` whose error falls only as about ``n**-1.7``.  The
figures below are the largest density error of ``hpcml kinetic`` on Sod
(Chu mode, BGK, nx 200, t 0.2, box ``vmax = 6.5``, MC, CFL 0.45) against the
same solve with ``n = 1024`` (measured by ``bench/bench_kinetic_velocity.py``;
docs/kinetic.md has them with nx 100 and 400).

:func:`auto_points` picks ``n`` from the Knudsen number so that this error
stays below :data:`TARGET` (2e-3); :func:`density_error` estimates it for a
given ``n`` (the warning for an explicit ``n`` that is too coarse).
"""

from __future__ import annotations

import numpy as np

#: the largest density error the automatic choice aims at
TARGET = 2e-3

#: ``(from this Knudsen number on, n)`` of the automatic choice
AUTO_POINTS = ((0.0, 64), (0.05, 128), (0.2, 256))

#: the automatic ``n`` is capped here in full mode (``n**3`` unknowns per cell)
FULL_MODE_CAP = 64

#: velocity points per direction of the measured errors (columns of :data:`MEASURED`)
MEASURED_N = (32, 64, 96, 128, 192, 256)

#: Knudsen number -> largest |rho - rho(n=1024)| for each of :data:`MEASURED_N` (Sod, nx 200)
MEASURED = {
    0.01: (2.9e-5, 1.1e-5, 7.9e-6, 5.5e-6, 3.2e-6, 2.6e-6),
    0.02: (3.7e-5, 1.0e-5, 4.8e-6, 3.3e-6, 2.1e-6, 1.6e-6),
    0.05: (2.2e-3, 5.4e-4, 2.5e-4, 1.4e-4, 6.2e-5, 3.3e-5),
    0.1: (9.8e-3, 3.1e-3, 1.5e-3, 7.8e-4, 4.0e-4, 2.4e-4),
    0.2: (2.2e-2, 7.4e-3, 3.8e-3, 1.9e-3, 1.1e-3, 6.4e-4),
    0.5: (3.5e-2, 1.3e-2, 6.7e-3, 3.2e-3, 2.1e-3, 1.1e-3),
    1.0: (4.1e-2, 1.5e-2, 8.1e-3, 4.0e-3, 2.5e-3, 1.4e-3),
    10.0: (4.7e-2, 1.8e-2, 9.6e-3, 4.7e-3, 2.9e-3, 1.7e-3),
}

#: the error's decay with n beyond the measured range, ``n**-ORDER``
ORDER = 1.7


def auto_points(knudsen: float, mode: str = "chu") -> int:
    """Velocity points per direction for Knudsen number ``knudsen`` (see :data:`AUTO_POINTS`).

    >>> auto_points(1e-4), auto_points(0.1), auto_points(1.0), auto_points(1.0, "full")
    (64, 128, 256, 64)
    """
    n = max(points for start, points in AUTO_POINTS if knudsen >= start)
    return min(n, FULL_MODE_CAP) if mode == "full" else n


def density_error(knudsen: float, n: int) -> float:
    """The expected largest density error of ``n`` velocity points at ``knudsen``.

    Interpolated in ``log Kn`` and ``log n`` in :data:`MEASURED` (Knudsen
    numbers outside 0.01..10 take the nearest row: the Euler and the free-flow
    ends change little), extrapolated in ``n`` as ``n**-ORDER``.  An estimate
    for Sod-like data on the default box, good to a factor of about 2.

    >>> round(density_error(1.0, 64), 4), round(density_error(1.0, 256), 4)
    (0.015, 0.0014)
    """
    kns = np.array(sorted(MEASURED))
    table = np.log(np.array([MEASURED[k] for k in kns]))
    lk = np.clip(np.log(knudsen), np.log(kns[0]), np.log(kns[-1]))
    row = np.array([np.interp(lk, np.log(kns), table[:, j]) for j in range(table.shape[1])])
    ln = np.log(np.asarray(MEASURED_N, dtype=float))
    x = np.log(float(n))
    if x <= ln[0]:
        return float(np.exp(row[0] - ORDER * (x - ln[0])))
    if x >= ln[-1]:
        return float(np.exp(row[-1] - ORDER * (x - ln[-1])))
    return float(np.exp(np.interp(x, ln, row)))
