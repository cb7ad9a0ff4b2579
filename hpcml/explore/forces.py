"""Committee forces on one rank's owned atoms of a domain-decomposed system.

Each rank evaluates the model on its owned atoms (the centres) plus the ghost
atoms within ``rcut + skin`` (the model's lower interface: energies of the
centres, forces on centres and ghosts); ghost forces go back to their owners
by the domain's reverse communication, and energies and virials are summed
over the ranks.  Used as the force function of the integrators.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hpcml.molecular.batch import make_batch_extended
from hpcml.molecular.committee import Committee
from hpcml.molecular.neighbors import NeighborList
from hpcml.molecular.skin import SkinList
from hpcml.parallel import allreduce_max, collective_call


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
    chunk
        Centres per model call: a large domain is evaluated in chunks, which
        keeps the tensors in cache and the memory bounded.
    """

    def __init__(self, domain: object, committee: Committee, skin: float, chunk: int = 1024):
        self.domain, self.committee, self.skin, self.chunk = domain, committee, skin, chunk
        self.spec = committee.spec
        self.all_members = False
        self.last: dict[str, np.ndarray] = {}
        self.n_evaluations = 0
        #: seconds spent in halo exchange, neighbour lists, member 0, other members
        self.timers = {"halo": 0.0, "nlist": 0.0, "model": 0.0, "deviation": 0.0}

    def rebuild(self, local: object, min_distance: float = 0.0) -> None:
        """Ghost atoms and the Verlet list for the owned atoms ``local`` (collective).

        ``min_distance`` > 0 checks for overlapping atoms (A) on every rank.
        """
        t0 = time.perf_counter()
        self.plan, ghost_pos, _, payload = self.domain.ghosts(local, ("types",))
        t1 = time.perf_counter()
        self.n_local = len(local.positions)
        self.types = np.concatenate([local.arrays["types"], payload["types"]]).astype(np.int64)
        ext = np.concatenate([local.positions, ghost_pos])
        self.verlet = collective_call(self.domain.ctx, SkinList, ext, self.types,
                                      self.n_local, self.spec.rcut, self.skin, self.spec.sel,
                                      min_distance)
        self.timers["halo"] += t1 - t0
        self.timers["nlist"] += time.perf_counter() - t1

    def needs_rebuild(self, positions: np.ndarray) -> bool:
        """True on every rank when any owned atom moved more than ``skin / 2``."""
        moved = self.verlet.max_displacement(positions)
        return allreduce_max(self.domain.ctx, moved) > 0.5 * self.skin

    def __call__(self, positions: np.ndarray,
                 cell: np.ndarray | None) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV, whole system), forces on owned atoms (n, 3), virial (3, 3)."""
        t0 = time.perf_counter()
        ghost_pos = self.domain.forward(self.plan, positions)
        t1 = time.perf_counter()
        ext = np.concatenate([positions, ghost_pos])
        nlist = self.verlet.neighbor_list(ext)
        models = self.committee.models if self.all_members else self.committee.models[:1]
        batches = [make_batch_extended(_rows(nlist, a, b), self.types[a:b], len(ext),
                                       self.spec.ntypes, far=2.0 * self.spec.rcut,
                                       dtype=models[0].dtype, start=a)
                   for a, b in _chunks(self.n_local, self.chunk)]
        energies, forces, virials = [], [], []
        t2 = time.perf_counter()
        halo = t1 - t0
        for k, model in enumerate(models):
            t_model = time.perf_counter()
            f_ext, energy, virial = np.zeros((len(ext), 3)), 0.0, np.zeros((3, 3))
            for batch in batches:
                out = model(batch, forces=True, virial=True)
                f_ext += batch.to_extended_order(out["force"]).detach().numpy()
                energy += float(out["energy"].detach().sum())
                virial += out["virial"].detach().sum(dim=0).numpy()
            t_rev = time.perf_counter()
            f = f_ext[: self.n_local] + self.domain.reverse(self.plan, f_ext[self.n_local:])
            halo += time.perf_counter() - t_rev
            self.timers["model" if k == 0 else "deviation"] += t_rev - t_model
            energies.append(energy)
            forces.append(f)
            virials.append(virial)
        totals = self.domain.allsum(np.concatenate([np.array(energies),
                                                    np.array(virials).reshape(-1)]))
        energies, virials = totals[: len(models)], totals[len(models):].reshape(-1, 3, 3)
        self.n_evaluations += len(models)
        self.timers["halo"] += halo
        self.timers["nlist"] += t2 - t1
        self.last = {"energies": energies, "forces": np.array(forces), "virials": virials}
        return float(energies[0]), forces[0], virials[0]


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges of at most ``size`` covering ``0..n`` (one when n == 0)."""
    return [(a, min(a + size, n)) for a in range(0, max(n, 1), size)]


def _rows(nlist: NeighborList, a: int, b: int) -> NeighborList:
    """Rows ``a:b`` (centres) of a neighbour list."""
    return NeighborList(rij=nlist.rij[a:b], index=nlist.index[a:b], widths=nlist.widths,
                        counts=nlist.counts[a:b])


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
    """Give torch ``n`` threads (:func:`hpcml.parallel.threads.rank_threads`)."""
    torch.set_num_threads(max(1, n))
