"""Errors of an ensemble (committee mean and each member) against labeled frames.

Figures follow ``dp test``: energy MAE/RMSE in eV and per atom (meV/atom
here), force MAE/RMSE over all components (eV/A), virial MAE/RMSE per atom
(meV/atom) when the frames carry virials.  Systems pool into the overall row
by frames (energies, virials) and by force components, as ``dp test``'s
weighted average does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hpcml.errors import DataError
from hpcml.io import read_any
from hpcml.molecular.committee import Committee

#: accumulated sums of one row
_SUMS = ("frames", "atoms", "ae_e", "se_e", "ae_ea", "se_ea", "ae_f", "se_f", "n_f",
         "ae_va", "se_va", "n_v")


def _zero() -> dict:
    return dict.fromkeys(_SUMS, 0.0)


def _add(acc: dict, e: float, e_ref: float, f: np.ndarray, f_ref: np.ndarray,
         v: np.ndarray | None, v_ref: np.ndarray | None) -> None:
    """Add one frame's errors (energy eV, forces (n, 3) eV/A, virial (9,) eV) to ``acc``."""
    n = f_ref.shape[0]
    d_e, d_f = e - e_ref, f - f_ref
    acc["frames"] += 1
    acc["atoms"] += n
    acc["ae_e"] += abs(d_e)
    acc["se_e"] += d_e**2
    acc["ae_ea"] += abs(d_e) / n
    acc["se_ea"] += (d_e / n) ** 2
    acc["ae_f"] += float(np.abs(d_f).sum())
    acc["se_f"] += float((d_f**2).sum())
    acc["n_f"] += d_f.size
    if v is not None and v_ref is not None:
        d_v = (np.reshape(v, 9) - np.reshape(v_ref, 9)) / n
        acc["ae_va"] += float(np.abs(d_v).sum())
        acc["se_va"] += float((d_v**2).sum())
        acc["n_v"] += 9


def row(name: str, acc: dict) -> dict:
    """The figures of accumulated errors (see the module docstring for units)."""
    nf = max(acc["frames"], 1)
    out = {"system": name, "frames": int(acc["frames"]),
           "energy_mae_eV": acc["ae_e"] / nf, "energy_rmse_eV": float(np.sqrt(acc["se_e"] / nf)),
           "energy_mae_per_atom_meV": 1000 * acc["ae_ea"] / nf,
           "energy_rmse_per_atom_meV": 1000 * float(np.sqrt(acc["se_ea"] / nf)),
           "force_mae_eV_per_A": acc["ae_f"] / max(acc["n_f"], 1),
           "force_rmse_eV_per_A": float(np.sqrt(acc["se_f"] / max(acc["n_f"], 1)))}
    if acc["n_v"]:
        out["virial_mae_per_atom_meV"] = 1000 * acc["ae_va"] / acc["n_v"]
        out["virial_rmse_per_atom_meV"] = 1000 * float(np.sqrt(acc["se_va"] / acc["n_v"]))
    return out


@dataclass
class SystemPrediction:
    """Labels and predictions of one system, for ``--detail`` files.

    ``energy`` (nf, 2) eV, ``force`` (natoms_total, 6) eV/A, ``virial``
    (nf, 18) eV or None; data columns first; ``natoms`` (nf,).
    """

    system: str
    energy: np.ndarray
    force: np.ndarray
    natoms: np.ndarray
    virial: np.ndarray | None = None


@dataclass
class TestResult:
    """Rows of :func:`evaluate_systems`: per system, overall, per member (overall).

    ``detail_files``: the dp-test files written from ``predictions``, if any.
    """

    systems: list[dict] = field(default_factory=list)
    overall: dict = field(default_factory=dict)
    members: list[dict] = field(default_factory=list)
    predictions: list[SystemPrediction] = field(default_factory=list)
    detail_files: list[str] = field(default_factory=list)


def _frames(committee: Committee, path: str | os.PathLike, fmt: str):  # noqa: ANN202
    """Labeled frames of one system in the committee's type order."""
    frames = read_any(path, fmt=fmt)
    if "energy" not in frames or "force" not in frames:
        raise DataError(f"{path}: frames have no energy/force labels to test against")
    try:
        return frames.with_type_map(committee.type_map)
    except ValueError as exc:
        raise DataError(f"{path}: {exc} of the model; test with a model trained for these "
                        "elements, or pass systems of the model's elements only") from None


def evaluate_systems(committee: Committee, systems: Sequence[str | os.PathLike],
                     fmt: str = "auto", member: int | None = None) -> TestResult:
    """Errors of the committee mean (or of member ``member`` alone) and of each member.

    Raises
    ------
    DataError
        When a system has no labels or elements outside the model's type_map.
    """
    if member is not None:
        if not 0 <= member < len(committee):
            raise DataError(f"--member {member}: the model has members "
                            f"0..{len(committee) - 1}")
        committee = Committee([committee.models[member]], committee.info)
    result, total = TestResult(), _zero()
    per_member = [_zero() for _ in range(len(committee))]
    for path in systems:
        frames = _frames(committee, path, fmt)
        has_virial = "virial" in frames
        acc, e_rows, f_rows, v_rows, natoms = _zero(), [], [], [], []
        for i in range(len(frames)):
            f = frames.frame(i)
            out = committee.evaluate(f["coord"], f["cell"], f["atype"], virial=has_virial)
            e_ref, f_ref = float(f["energy"]), f["force"]
            v_ref = f["virial"] if has_virial else None
            _add(acc, out["energy"], e_ref, out["force"], f_ref, out.get("virial"), v_ref)
            for k, m_acc in enumerate(per_member):
                _add(m_acc, float(out["energies"][k]), e_ref, out["forces"][k], f_ref,
                     out["virials"][k] if has_virial else None, v_ref)
            e_rows.append([e_ref, out["energy"]])
            f_rows.append(np.concatenate([f_ref, out["force"]], axis=1))
            natoms.append(f_ref.shape[0])
            if has_virial:
                v_rows.append(np.concatenate([np.reshape(v_ref, 9),
                                              np.reshape(out["virial"], 9)]))
        result.systems.append(row(str(path), acc))
        result.predictions.append(SystemPrediction(
            str(path), np.array(e_rows).reshape(-1, 2), np.concatenate(f_rows or [np.zeros(
                (0, 6))]), np.array(natoms), np.array(v_rows) if has_virial else None))
        total = {k: total[k] + acc[k] for k in _SUMS}
    result.overall = row("overall", total)
    names = [f"member {member}"] if member is not None else [f"member {k}" for k in
                                                            range(len(committee))]
    result.members = [row(name, acc) for name, acc in zip(names, per_member)]
    return result


def test_model(model: str | os.PathLike, systems: Sequence[str | os.PathLike],
               fmt: str = "auto") -> tuple[list[dict], dict]:
    """Per-system rows and the overall row of the committee mean's errors.

    See :func:`row` for the keys (``energy_rmse_per_atom_meV``,
    ``force_rmse_eV_per_A``, ``force_mae_eV_per_A``, ``frames``, ...).
    """
    result = evaluate_systems(Committee.load(model), systems, fmt)
    return result.systems, result.overall
