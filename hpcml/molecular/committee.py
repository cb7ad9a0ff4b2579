"""An ensemble (committee) of DeepPot models: one file, one neighbour list.

The ensemble file (``ensemble.pt``, written by ``hpcml train``) is a torch
pickle of plain data: ``{"kind": "hpcml.deeppot.ensemble", "version": 1,
"type_map": [...], "members": [DeepPot.serialize(), ...], "info": {...}}``.
The MD engine, the ASE calculator and ``hpcml test`` all load it with
:meth:`Committee.load`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hpcml.errors import DataError
from hpcml.molecular.deviation import force_deviation, virial_deviation
from hpcml.molecular.model import DeepPot

KIND = "hpcml.deeppot.ensemble"


class Committee:
    """K DeepPot models that share ``rcut``, ``sel`` and ``type_map``.

    Parameters
    ----------
    models
        The members (same neighbour-list parameters).
    info
        Free-form provenance (training steps, data, metrics).
    """

    def __init__(self, models: list[DeepPot], info: dict | None = None):
        if not models:
            raise ValueError("a committee needs at least one model")
        first = models[0].spec
        for m in models[1:]:
            if (m.spec.rcut, m.spec.sel, m.spec.type_map) != (first.rcut, first.sel,
                                                               first.type_map):
                raise ValueError("committee members must share rcut, sel and type_map")
        self.models, self.info = models, dict(info or {})

    @property
    def spec(self):  # noqa: ANN201 (DeepPotSpec)
        """Spec of the first member (neighbour-list parameters are shared)."""
        return self.models[0].spec

    @property
    def type_map(self) -> list[str]:
        """Element of each atom type."""
        return list(self.spec.type_map)

    def __len__(self) -> int:
        return len(self.models)

    def evaluate(self, coord: np.ndarray, cell: np.ndarray | None, atype: np.ndarray,
                 virial: bool = True) -> dict[str, np.ndarray | float]:
        """Predictions of every member and their deviation, for one frame.

        Returns
        -------
        dict
            ``energies`` (K,) eV, ``forces`` (K, natoms, 3) eV/A,
            ``virials`` (K, 3, 3) eV; ``energy``, ``force``, ``virial``,
            ``atom_energy`` (natoms,): the committee means; ``max_devi_f``,
            ``min_devi_f``, ``avg_devi_f`` (eV/A) and, with ``virial``,
            ``max_devi_v`` etc. (eV/atom).
        """
        batch = self.models[0].make_batch([coord], [cell], [atype])
        energies, forces, virials, atom_energies = [], [], [], []
        for model in self.models:
            out = model(batch if model.dtype == batch.rij.dtype else
                        model.make_batch([coord], [cell], [atype]), virial=virial)
            energies.append(out["energy"][0].item())
            forces.append(batch.to_input_order(out["force"]).detach().numpy())
            atom_energies.append(batch.to_input_order(out["atom_energy"]).detach().numpy())
            if virial:
                virials.append(out["virial"][0].detach().numpy())
        result: dict = {"energies": np.array(energies), "forces": np.array(forces)}
        result.update(energy=float(np.mean(energies)), force=result["forces"].mean(axis=0),
                      atom_energy=np.mean(atom_energies, axis=0))
        result.update(force_deviation(result["forces"]))
        if virial:
            result["virials"] = np.array(virials)
            result["virial"] = result["virials"].mean(axis=0)
            result.update(virial_deviation(result["virials"], len(atype)))
        return result

    def serialize(self) -> dict:
        """Plain-data form (see the module docstring)."""
        return {"kind": KIND, "version": 1, "type_map": self.type_map,
                "members": [m.serialize() for m in self.models], "info": self.info}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ensemble file atomically (temporary name, then rename)."""
        path = Path(path)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        torch.save(self.serialize(), tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Committee:
        """Read an ensemble file (or a single-model file) written by hpcml.

        Raises
        ------
        DataError
            When the file is missing or not an hpcml model file.
        """
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            raise DataError(f"{path}: model file not found") from None
        except Exception as exc:  # noqa: BLE001 (any unpickling failure)
            raise DataError(f"{path}: not a model file readable by torch ({exc})") from None
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind == "hpcml.deeppot":
            return cls([DeepPot.deserialize(data)])
        if kind != KIND:
            raise DataError(f"{path}: not an hpcml ensemble (kind {kind!r}); pass the "
                            "ensemble.pt written by `hpcml train`")
        return cls([DeepPot.deserialize(m) for m in data["members"]], data.get("info"))
