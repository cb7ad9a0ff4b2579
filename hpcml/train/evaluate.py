"""Errors of a model (or committee mean) against labeled frames."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from hpcml.errors import DataError
from hpcml.io import read_any
from hpcml.molecular.committee import Committee


def _errors(committee: Committee, path: str | os.PathLike, fmt: str) -> dict:
    """Sums of squared / absolute errors over the frames of one system."""
    frames = read_any(path, fmt=fmt)
    if "energy" not in frames or "force" not in frames:
        raise DataError(f"{path}: frames have no energy/force labels to test against")
    frames = frames.with_type_map(committee.type_map)
    acc = {"frames": 0, "atoms": 0, "se_e": 0.0, "se_f": 0.0, "ae_f": 0.0, "n_f": 0}
    for i in range(len(frames)):
        f = frames.frame(i)
        out = committee.evaluate(f["coord"], f["cell"], f["atype"], virial=False)
        n = f["atype"].size
        d_f = out["force"] - f["force"]
        acc["frames"] += 1
        acc["atoms"] += n
        acc["se_e"] += ((out["energy"] - float(f["energy"])) / n) ** 2
        acc["se_f"] += float((d_f**2).sum())
        acc["ae_f"] += float(np.abs(d_f).sum())
        acc["n_f"] += d_f.size
    return acc


def _row(system: str, acc: dict) -> dict:
    """Table row from accumulated errors."""
    return {"system": system, "frames": acc["frames"],
            "energy_rmse_per_atom_meV": 1000 * float(np.sqrt(acc["se_e"] / acc["frames"])),
            "force_rmse_eV_per_A": float(np.sqrt(acc["se_f"] / acc["n_f"])),
            "force_mae_eV_per_A": acc["ae_f"] / acc["n_f"]}


def test_model(model: str | os.PathLike, systems: Sequence[str | os.PathLike],
               fmt: str = "auto") -> tuple[list[dict], dict]:
    """Per-system rows and the overall row of energy/force errors.

    Energy RMSE is per atom (meV/atom), force RMSE/MAE over all components
    (eV/A), for the committee-mean prediction.
    """
    committee = Committee.load(model)
    rows, total = [], {"frames": 0, "atoms": 0, "se_e": 0.0, "se_f": 0.0, "ae_f": 0.0,
                       "n_f": 0}
    for path in systems:
        acc = _errors(committee, path, fmt)
        rows.append(_row(str(path), acc))
        total = {k: total[k] + acc[k] for k in total}
    return rows, _row("overall", total)
