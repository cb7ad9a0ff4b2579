"""``lcurve.out``: the learning curve, in DeePMD-kit's (PyTorch backend) column order.

Header and rows as ``dp --pt train`` writes them, so DeePMD-kit users'
plotting scripts (``np.genfromtxt("lcurve.out", names=True)``, columns by
name or by position) read hpcml's files unchanged::

    # step       rmse_val    rmse_trn    rmse_e_val  rmse_e_trn    rmse_f_val  rmse_f_trn   lr
    # If there is no available reference data, rmse_*_{val,trn} will print nan
        100    1.2300e+00  1.3100e+00    4.5600e-03  4.7100e-03    3.8700e-01  4.1200e-01 ...

``rmse`` is the square root of the loss (with the prefactors of that step),
``rmse_e`` the energy RMSE per atom (eV/atom), ``rmse_f`` the force RMSE
(eV/A), ``rmse_v`` (only when the virial prefactors are not zero) the
virial RMSE per atom (eV/atom); ``lr`` the learning rate.  hpcml writes four
significant digits where DeePMD-kit writes three.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

NAN_NOTE = "# If there is no available reference data, rmse_*_{val,trn} will print nan\n"


def keys(virial: bool) -> tuple[str, ...]:
    """The metric keys, in DeePMD-kit's (sorted) order."""
    return ("rmse", "rmse_e", "rmse_f", "rmse_v") if virial else ("rmse", "rmse_e", "rmse_f")


def header(virial: bool) -> str:
    """The two header lines."""
    names = "".join(f"   {k + '_val':>11s} {k + '_trn':>11s}" for k in keys(virial))
    return "# {:5s}".format("step") + names + "   {:8s}\n".format("lr") + NAN_NOTE


def row(step: int, val: dict[str, float], trn: dict[str, float], lr: float,
        virial: bool) -> str:
    """One line: step, (validation, training) of each key, learning rate."""
    cols = "".join(f"   {val.get(k, math.nan):11.4e} {trn.get(k, math.nan):11.4e}"
                   for k in keys(virial))
    return f"{step:7d}{cols}   {lr:8.3e}\n"


def read_lcurve(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of an lcurve.out by name (``step``, ``rmse_e_val``, ..., ``lr``).

    Reads DeePMD-kit's files, this module's, and hpcml's earlier layout
    (``step rmse_e_val rmse_e_trn rmse_f_val rmse_f_trn lr``): the names come
    from the first header line.  An empty curve gives arrays of length 0.
    """
    lines = Path(path).read_text().splitlines()
    names = lines[0].lstrip("#").split() if lines and lines[0].startswith("#") else []
    names = names or ["step", "rmse_e_val", "rmse_e_trn", "rmse_f_val", "rmse_f_trn", "lr"]
    body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not body:
        return {n: np.zeros(0) for n in names}
    data = np.loadtxt(body, ndmin=2)
    return {n: data[:, i] for i, n in enumerate(names[:data.shape[1]])}
