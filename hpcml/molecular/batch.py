"""Batches of frames in the layout the model consumes: atoms sorted by type.

A batch concatenates the atoms of its frames, then sorts them (stably) by
type so that the centre atoms of each type form one contiguous block; the
fitting and embedding nets then run once per block.  ``order`` maps back to
the input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hpcml.molecular.neighbors import NeighborList, pad_widths


@dataclass
class Batch:
    """Model input for ``nf`` frames and ``n`` atoms in total.

    Attributes
    ----------
    rij
        (n, width, 3) Angstrom, displacement to each neighbour slot.
    index
        (n, width) int64 position (in sorted order) of each slot's atom;
        ``n`` (a sink row) for empty slots.
    widths
        Width of each neighbour type's section.
    blocks
        ``(start, stop)`` of each centre type's block of atoms.
    frame
        (n,) int64 frame of each atom.
    natoms
        (nf,) int64 atoms per frame.
    order
        (n,) int64: input position (frames concatenated) of each sorted atom.
    cache
        Derived data that depends on the batch alone (e.g. the distinct
        neighbour distances of :mod:`hpcml.molecular.fast`), filled lazily.
    n_ext
        For one rank's part of a domain-decomposed system
        (:func:`make_batch_extended`): the number of atoms that receive
        forces, the ``n`` centres (sorted) followed by the other extended
        atoms; the sink row is then ``n_ext``.  None means ``n``.
    start
        Extended position of the first centre (chunks of a large domain).
    """

    rij: torch.Tensor
    index: torch.Tensor
    widths: tuple[int, ...]
    blocks: tuple[tuple[int, int], ...]
    frame: torch.Tensor
    natoms: torch.Tensor
    order: torch.Tensor
    cache: dict = field(default_factory=dict, repr=False, compare=False)
    n_ext: int | None = None
    start: int = 0

    @property
    def n_out(self) -> int:
        """Rows of the force output: ``n_ext`` when set, else ``n``."""
        return self.n_atoms if self.n_ext is None else self.n_ext

    @property
    def n_frames(self) -> int:
        """Number of frames ``nf``."""
        return int(self.natoms.shape[0])

    @property
    def n_atoms(self) -> int:
        """Number of atoms ``n``."""
        return int(self.rij.shape[0])

    def to_input_order(self, per_atom: torch.Tensor) -> torch.Tensor:
        """Reorder a per-atom tensor (n, ...) from sorted to input order."""
        inverse = torch.empty_like(self.order)
        inverse[self.order] = torch.arange(self.order.numel(), device=self.order.device)
        return per_atom[inverse]

    def to_extended_order(self, per_atom: torch.Tensor) -> torch.Tensor:
        """Rows (n_ext, ...) of an extended batch back in extended-atom order."""
        n, a = self.n_atoms, self.start
        return torch.cat([per_atom[n:n + a], self.to_input_order(per_atom[:n]),
                          per_atom[n + a:]])

    def to_sorted_order(self, per_atom: torch.Tensor) -> torch.Tensor:
        """Reorder a per-atom tensor (n, ...) from input to sorted order."""
        return per_atom[self.order]


def make_batch(nlists: Sequence[NeighborList], atypes: Sequence[np.ndarray], ntypes: int,
               far: float, dtype: torch.dtype = torch.float64,
               device: str | torch.device = "cpu") -> Batch:
    """Build a :class:`Batch` from per-frame neighbour lists.

    Parameters
    ----------
    nlists
        Neighbour list of each frame (indices local to the frame).
    atypes
        (natoms_f,) type of each atom of each frame.
    ntypes
        Number of atom types.
    far
        Displacement length used for empty slots (beyond the cutoff).
    dtype, device
        Of the float tensors.
    """
    widths = tuple(int(w) for w in np.max([nl.widths for nl in nlists], axis=0))
    natoms = np.array([a.size for a in atypes], np.int64)
    starts = np.concatenate(([0], np.cumsum(natoms)[:-1]))
    padded = [pad_widths(nl, widths, far) for nl in nlists]
    rij = np.concatenate([p.rij for p in padded])
    index = np.concatenate([np.where(p.index >= 0, p.index + s, -1)
                            for p, s in zip(padded, starts)])
    atype = np.concatenate(atypes)
    order = np.argsort(atype, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    n = order.size
    index = index[order]
    index = np.where(index >= 0, rank[np.maximum(index, 0)], n)
    bounds = np.searchsorted(atype[order], np.arange(ntypes + 1))
    frame = np.repeat(np.arange(natoms.size), natoms)[order]
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Batch(rij=as_t(rij[order], dtype), index=as_t(index, torch.int64), widths=widths,
                 blocks=tuple((int(a), int(b)) for a, b in zip(bounds, bounds[1:])),
                 frame=as_t(frame, torch.int64), natoms=as_t(natoms, torch.int64),
                 order=as_t(order, torch.int64))


def make_batch_extended(nlist: NeighborList, atype: np.ndarray, n_ext: int, ntypes: int,
                        far: float, dtype: torch.dtype = torch.float64,
                        device: str | torch.device = "cpu", start: int = 0) -> Batch:
    """Batch of one rank's owned atoms (centres) with ghost neighbours.

    Parameters
    ----------
    nlist
        Neighbour list of the ``n`` centres, which are the extended atoms
        ``start .. start+n-1``; indices point into the extended atoms
        ``0 .. n_ext-1`` (owned atoms first, then ghosts), ``-1`` empty.
    atype
        (n,) types of the centres.
    n_ext
        Owned atoms plus ghosts.
    ntypes, far, dtype, device
        As for :func:`make_batch`.
    start
        First extended atom of the centres (evaluating a large domain in
        chunks keeps the tensors small).

    Returns
    -------
    Batch
        One frame; forces come out as (n_ext, 3): the centres in sorted order,
        then every other extended atom in its order
        (:meth:`Batch.to_extended_order` restores the extended order).
    """
    n = atype.size
    order = np.argsort(atype, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(n)
    index = nlist.index[order]
    local = index - start
    centre = (local >= 0) & (local < n)
    other = np.where(index < start, index + n, index)        # non-centres keep their order
    index = np.where(centre, rank[np.clip(local, 0, max(n - 1, 0))],
                     np.where(index >= 0, other, n_ext))
    bounds = np.searchsorted(atype[order], np.arange(ntypes + 1))
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Batch(rij=as_t(nlist.rij[order], dtype), index=as_t(index, torch.int64),
                 widths=tuple(nlist.widths),
                 blocks=tuple((int(a), int(b)) for a, b in zip(bounds, bounds[1:])),
                 frame=as_t(np.zeros(n, np.int64), torch.int64),
                 natoms=as_t(np.array([n], np.int64), torch.int64),
                 order=as_t(order, torch.int64), n_ext=int(n_ext), start=start)
