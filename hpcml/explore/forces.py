"""Committee forces on one rank's owned atoms of a domain-decomposed system.

Each rank evaluates the model on its owned atoms (the centres) plus the ghost
atoms within ``rcut + skin`` (the model's lower interface: energies of the
centres, forces on centres and ghosts); ghost forces go back to their owners
by the domain's reverse communication, and energies and virials are summed
over the ranks.  Used as the force function of the integrators.
"""

from __future__ import annotations

import numpy as np
import torch

from hpcml.molecular.batch import make_batch_extended
from hpcml.molecular.committee import Committee
from hpcml.molecular.skin import SkinList


class CommitteeForces:
    """Force function ``(positions, cell) -> (energy, forces, virial)`` of member 0.

    With :attr:`all_members` set, the call evaluates every member and keeps
    their forces in :attr:`last` for the committee deviation.

    Parameters
    ----------
    domain
        :class:`hpcml.parallel.domain.Domain` of this walker.
    committee
        The ensemble.
    skin
        Verlet skin, A.
    """

    def __init__(self, domain: object, committee: Committee, skin: float):
        self.domain, self.committee, self.skin = domain, committee, skin
        self.spec = committee.spec
        self.all_members = False
        self.last: dict[str, np.ndarray] = {}
        self.n_evaluations = 0

    def rebuild(self, local: object) -> None:
        """Ghost atoms and the Verlet list for the owned atoms ``local`` (collective)."""
        self.plan, ghost_pos, _, payload = self.domain.ghosts(local, ("types",))
        self.n_local = len(local.positions)
        self.types = np.concatenate([local.arrays["types"], payload["types"]]).astype(np.int64)
        ext = np.concatenate([local.positions, ghost_pos])
        self.verlet = SkinList(ext, self.types, self.n_local, self.spec.rcut, self.skin,
                               self.spec.sel)

    def needs_rebuild(self, positions: np.ndarray) -> bool:
        """True on every rank when any owned atom moved more than ``skin / 2``."""
        moved = self.verlet.max_displacement(positions)
        return bool(max(self.domain.ctx.comm.allgather(moved)) > 0.5 * self.skin)

    def __call__(self, positions: np.ndarray,
                 cell: np.ndarray | None) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV, whole system), forces on owned atoms (n, 3), virial (3, 3)."""
        ghost_pos = self.domain.forward(self.plan, positions)
        ext = np.concatenate([positions, ghost_pos])
        nlist = self.verlet.neighbor_list(ext)
        models = self.committee.models if self.all_members else self.committee.models[:1]
        batch = make_batch_extended(nlist, self.types[: self.n_local], len(ext),
                                    self.spec.ntypes, far=2.0 * self.spec.rcut,
                                    dtype=models[0].dtype)
        energies, forces, virials = [], [], []
        for model in models:
            out = model(batch, forces=True, virial=True)
            f_ext = batch.to_input_order_extended(out["force"]).detach().numpy()
            f = f_ext[: self.n_local] + self.domain.reverse(self.plan, f_ext[self.n_local:])
            energies.append(float(out["energy"].detach().sum()))
            forces.append(f)
            virials.append(out["virial"].detach().sum(dim=0).numpy())
        totals = self.domain.allsum(np.concatenate([np.array(energies),
                                                    np.array(virials).reshape(-1)]))
        energies, virials = totals[: len(models)], totals[len(models):].reshape(-1, 3, 3)
        self.n_evaluations += len(models)
        self.last = {"energies": energies, "forces": np.array(forces), "virials": virials}
        return float(energies[0]), forces[0], virials[0]


def committee_deviation(ctx: object, forces: np.ndarray, virials: np.ndarray,
                        n_atoms: int) -> dict[str, float]:
    """DP-GEN's deviation of a domain-decomposed frame (collective over ``ctx``).

    Parameters
    ----------
    forces
        (K, n_local, 3) eV/A of the owned atoms.
    virials
        (K, 3, 3) eV, whole system.
    n_atoms
        Atoms in the whole system.
    """
    from hpcml.molecular.deviation import virial_deviation

    eps = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
    local = (float(eps.max()) if eps.size else -np.inf, float(eps.min()) if eps.size else np.inf,
             float(eps.sum()))
    parts = ctx.comm.allgather(local)
    out = {"max_devi_f": max(p[0] for p in parts), "min_devi_f": min(p[1] for p in parts),
           "avg_devi_f": sum(p[2] for p in parts) / n_atoms}
    out.update(virial_deviation(virials, n_atoms))
    return out


def torch_threads(n: int) -> None:
    """Give torch ``n`` threads (one per rank under mpirun)."""
    torch.set_num_threads(max(1, n))
