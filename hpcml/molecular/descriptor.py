"""DeepPot-SE descriptor ``se_e2_a`` (PyTorch).

For centre atom ``i`` with neighbours ``j`` (displacement ``r_ij``, distance
``r``), the environment row is ``R_ij = s(r) (1, x/r, y/r, z/r)`` with the
smooth switch ``s`` of :func:`hpcml.molecular.reference.switch`; rows are
normalised per centre type, ``R~ = (R - avg) / std``.  The embedding net of
(centre type, neighbour type) maps ``s~`` to ``G_ij`` (M values); then
``T = G^T R~ / nnei`` (M x 4) and ``D = T T[:axis]^T`` (M x axis).

Empty neighbour slots count as ``R = 0`` (a neighbour beyond the cutoff),
as in DeePMD-kit; slots between the batch's section width and ``sel`` are
added in closed form, so results do not depend on the padding width.
"""

from __future__ import annotations

import torch
from torch import nn

from hpcml.molecular.nets import EmbeddingNet
from hpcml.molecular.spec import DeepPotSpec


def switch_torch(r: torch.Tensor, rcut_smth: float, rcut: float) -> torch.Tensor:
    """``s(r)``: ``1/r`` below ``rcut_smth``, quintic switch to 0 at ``rcut``."""
    u = ((r - rcut_smth) / (rcut - rcut_smth)).clamp(0.0, 1.0)
    sw = u * u * u * (-6.0 * u * u + 15.0 * u - 10.0) + 1.0
    return sw / r


def env_matrix_torch(rij: torch.Tensor, rcut_smth: float, rcut: float) -> torch.Tensor:
    """Environment rows ``(n, width, 4)`` of displacements ``rij`` (n, width, 3)."""
    r = torch.linalg.vector_norm(rij, dim=-1, keepdim=True)
    s = switch_torch(r, rcut_smth, rcut)
    return torch.cat([s, s * rij / r], dim=-1)


class DescrptSeA(nn.Module):
    """The ``se_e2_a`` descriptor; see the module docstring.

    Buffers ``avg`` and ``std`` (ntypes, 4) hold the normalisation of the
    environment rows; :meth:`set_stats` sets them from data.
    """

    def __init__(self, spec: DeepPotSpec, dtype: torch.dtype, gen: torch.Generator):
        super().__init__()
        self.spec = spec
        nt = spec.ntypes
        if spec.type_one_side:          # nets[ti][tj] is the same module for every ti
            shared = [EmbeddingNet(spec.neuron, dtype, gen) for _ in range(nt)]
            self.nets = nn.ModuleList(nn.ModuleList(shared) for _ in range(nt))
        else:
            self.nets = nn.ModuleList(
                nn.ModuleList(EmbeddingNet(spec.neuron, dtype, gen) for _ in range(nt))
                for _ in range(nt))
        self.register_buffer("avg", torch.zeros(nt, 4, dtype=dtype))
        self.register_buffer("std", torch.ones(nt, 4, dtype=dtype))

    def set_stats(self, avg: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-centre-type normalisation, each (ntypes, 4)."""
        self.avg.copy_(torch.as_tensor(avg))
        self.std.copy_(torch.as_tensor(std))

    def forward(self, rij: torch.Tensor, blocks: tuple[tuple[int, int], ...],
                widths: tuple[int, ...]) -> list[torch.Tensor]:
        """Descriptors of each centre-type block.

        Parameters
        ----------
        rij
            (n, width, 3) Angstrom, atoms sorted by type.
        blocks
            ``(start, stop)`` of each centre type's atoms.
        widths
            Width of each neighbour type's section of the rows.

        Returns
        -------
        list of torch.Tensor
            One (n_t, neuron[-1] * axis_neuron) tensor per centre type.
        """
        spec = self.spec
        env = env_matrix_torch(rij, spec.rcut_smth, spec.rcut)
        return [self._block(env[a:b], ti, widths) for ti, (a, b) in enumerate(blocks)]

    def _block(self, env: torch.Tensor, ti: int, widths: tuple[int, ...]) -> torch.Tensor:
        """Descriptor (n_t, M * axis) of the centre atoms of type ``ti``."""
        spec = self.spec
        env = (env - self.avg[ti]) / self.std[ti]
        parts, col = [], 0
        for tj, w in enumerate(widths):
            if w:
                parts.append(self.nets[ti][tj](env[:, col:col + w, :1]))
            col += w
        if parts:
            g = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
            t = torch.matmul(g.transpose(1, 2), env)        # (n_t, M, 4)
        else:
            t = env.new_zeros(env.shape[0], spec.neuron[-1], 4)
        t = t + self._virtual_pads(ti, widths)
        t = t / spec.nnei
        d = torch.matmul(t, t[:, : spec.axis_neuron].transpose(1, 2))
        return d.reshape(d.shape[0], spec.dim_descrpt)

    def _virtual_pads(self, ti: int, widths: tuple[int, ...]) -> torch.Tensor:
        """Sum of ``G^T R~`` over the empty slots beyond the section widths (M, 4)."""
        pad_env = (0.0 - self.avg[ti]) / self.std[ti]        # (4,), R = 0 normalised
        total = torch.zeros((), dtype=pad_env.dtype, device=pad_env.device)
        for tj, (w, cap) in enumerate(zip(widths, self.spec.sel)):
            if cap != w:            # a Verlet list may be wider than sel (slots beyond rcut)
                g = self.nets[ti][tj](pad_env[:1].reshape(1, 1))[0]     # (M,)
                total = total + (cap - w) * torch.outer(g, pad_env)
        return total
