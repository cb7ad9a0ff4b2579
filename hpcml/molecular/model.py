"""DeepPot-SE energy model: descriptor + per-type fitting net + per-type bias.

``E = sum_i [F_{t_i}(D_i) + bias_{t_i}]``; forces ``F = -dE/dx`` and the
virial ``W = -sum_ij r_ij (x) dE/dr_ij`` come from ``dE/dr_ij``, scattered
to the atoms.  By default ``dE/dr_ij`` is computed by the explicit
first-derivative path of :mod:`hpcml.molecular.fast` (training then needs a
single backward); ``model.fast = False`` (or ``HPCML_DEEPPOT_FAST=0``)
selects autograd with respect to ``r_ij`` instead.  Both give the same
numbers to rounding.

Units: Angstrom, eV, eV/Angstrom; virial in eV.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hpcml.molecular.batch import Batch, make_batch
from hpcml.molecular.descriptor import DescrptSeA
from hpcml.molecular.fast import energy_and_grad
from hpcml.molecular.neighbors import build_neighbor_list
from hpcml.molecular.nets import FittingNet
from hpcml.molecular.spec import DeepPotSpec

DTYPES = {"float64": torch.float64, "float32": torch.float32}


class DeepPot(nn.Module):
    """A DeepPot-SE energy model.

    Parameters
    ----------
    spec
        Hyper-parameters (:class:`DeepPotSpec`); its ``seed`` fixes the
        initial parameters.
    """

    def __init__(self, spec: DeepPotSpec):
        super().__init__()
        self.spec = spec
        dtype = DTYPES[spec.precision]
        gen = torch.Generator().manual_seed(spec.seed)
        self.descriptor = DescrptSeA(spec, dtype, gen)
        self.fitting = nn.ModuleList(
            FittingNet(spec.dim_descrpt, spec.fitting_neuron, dtype, gen)
            for _ in range(spec.ntypes))
        self.register_buffer("bias_atom_e", torch.zeros(spec.ntypes, dtype=dtype))
        #: explicit-derivative path (see :mod:`hpcml.molecular.fast`); False: autograd
        self.fast = os.environ.get("HPCML_DEEPPOT_FAST", "1") != "0"

    @property
    def dtype(self) -> torch.dtype:
        """Float dtype of the parameters."""
        return self.bias_atom_e.dtype

    def atomic_energy(self, batch: Batch, rij: torch.Tensor | None = None) -> torch.Tensor:
        """Energy of each atom (n,) eV, in sorted order."""
        rij = batch.rij if rij is None else rij
        descriptors = self.descriptor(rij, batch.blocks, batch.widths)
        parts = [self.fitting[t](d) + self.bias_atom_e[t]
                 for t, d in enumerate(descriptors) if d.shape[0]]
        return torch.cat(parts)

    def forward(self, batch: Batch, forces: bool = True, virial: bool = False,
                create_graph: bool = False) -> dict[str, torch.Tensor]:
        """Energy (nf,), forces (n, 3) in sorted order, virial (nf, 3, 3).

        Parameters
        ----------
        batch
            Frames in the model's layout (:func:`make_batch`).
        forces, virial
            Which derivatives to return.
        create_graph
            Keep the graph of the derivatives (training on forces).  On the
            fast path, False gives detached outputs (no graph at all).
        """
        need_grad = forces or virial
        if need_grad and self.fast and not batch.rij.requires_grad:
            # explicit derivatives; create_graph=False returns detached tensors
            with torch.set_grad_enabled(create_graph):
                e_atom, g = energy_and_grad(self, batch)
            rij = batch.rij
            energy = torch.zeros(batch.n_frames, dtype=e_atom.dtype, device=e_atom.device)
            energy = energy.index_add(0, batch.frame, e_atom)
            out = {"energy": energy, "atom_energy": e_atom}
        else:
            rij = batch.rij.detach().requires_grad_(True) if need_grad else batch.rij
            e_atom = self.atomic_energy(batch, rij)
            energy = torch.zeros(batch.n_frames, dtype=e_atom.dtype, device=e_atom.device)
            energy = energy.index_add(0, batch.frame, e_atom)
            out = {"energy": energy, "atom_energy": e_atom}
            if not need_grad:
                return out
            (g,) = torch.autograd.grad(energy.sum(), rij, create_graph=create_graph,
                                       materialize_grads=True)
        if forces:
            n, n_out = batch.n_atoms, batch.n_out        # n_out > n: ghosts get forces too
            f = torch.zeros(n_out + 1, 3, dtype=g.dtype, device=g.device)
            f = f.index_add(0, batch.index.reshape(-1), -g.reshape(-1, 3))
            centres = f[:n] + g.sum(dim=1)
            out["force"] = centres if n_out == n else torch.cat([centres, f[n:n_out]])
        if virial:
            w_atom = -torch.einsum("nja,njb->nab", rij, g)
            w = torch.zeros(batch.n_frames, 3, 3, dtype=g.dtype, device=g.device)
            out["virial"] = w.index_add(0, batch.frame, w_atom)
        return out

    def make_batch(self, coords: Sequence[np.ndarray], cells: Sequence[np.ndarray | None],
                   atypes: Sequence[np.ndarray], device: str | torch.device = "cpu") -> Batch:
        """Neighbour lists and :class:`Batch` for frames given as arrays.

        Parameters
        ----------
        coords
            (natoms_f, 3) Angstrom per frame.
        cells
            (3, 3) Angstrom per frame (rows are lattice vectors), or None.
        atypes
            (natoms_f,) int per frame, indexing ``spec.type_map``.
        """
        spec = self.spec
        nlists = [build_neighbor_list(c, b, t, spec.rcut, spec.sel)
                  for c, b, t in zip(coords, cells, atypes)]
        return make_batch(nlists, [np.asarray(t) for t in atypes], spec.ntypes,
                          far=2.0 * spec.rcut, dtype=self.dtype, device=device)

    def evaluate(self, coord: np.ndarray, cell: np.ndarray | None, atype: np.ndarray,
                 virial: bool = True) -> dict[str, np.ndarray]:
        """Energy (eV), forces (natoms, 3) eV/A and virial (3, 3) eV of one frame.

        Forces are returned in the input atom order.
        """
        batch = self.make_batch([coord], [cell], [atype], device=self.bias_atom_e.device)
        out = self(batch, forces=True, virial=virial)
        result = {"energy": out["energy"][0].item(),
                  "force": batch.to_input_order(out["force"]).detach().cpu().numpy(),
                  "atom_energy": batch.to_input_order(out["atom_energy"]).detach().cpu().numpy()}
        if virial:
            result["virial"] = out["virial"][0].detach().cpu().numpy()
        return result

    def serialize(self) -> dict:
        """Plain data (spec dict + numpy arrays) that :meth:`deserialize` restores."""
        return {"kind": "hpcml.deeppot", "version": 1, "spec": self.spec.to_dict(),
                "state": {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}}

    @classmethod
    def deserialize(cls, data: dict) -> DeepPot:
        """Inverse of :meth:`serialize`."""
        if data.get("kind") != "hpcml.deeppot":
            raise ValueError(f"not a serialized hpcml DeepPot (kind {data.get('kind')!r})")
        model = cls(DeepPotSpec.from_dict(data["spec"]))
        model.load_state_dict({k: torch.as_tensor(np.asarray(v))
                               for k, v in data["state"].items()})
        return model
