"""The two small networks of DeepPot-SE: embedding net and fitting net (PyTorch).

Embedding net: input the scalar ``s(r)``; each layer ``y = tanh(x W + b)``,
plus ``x`` when the width is unchanged or ``[x, x]`` when it doubles
(DeePMD-kit's residual rule).  Fitting net: ``D -> hidden... -> 1``; hidden
layers of equal width use ``y = x + idt * tanh(x W + b)`` with a trainable
``idt`` per neuron.

Initialisation follows DeePMD-kit: ``W ~ N(0, 1/sqrt(n_in + n_out))``,
``b ~ N(0, 1)``, ``idt ~ N(0.1, 0.001)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _normal(gen: torch.Generator, shape: tuple[int, ...], mean: float, std: float,
            dtype: torch.dtype) -> nn.Parameter:
    """A parameter drawn from ``N(mean, std)`` with generator ``gen``."""
    value = torch.randn(shape, generator=gen, dtype=torch.float64) * std + mean
    return nn.Parameter(value.to(dtype))


class EmbeddingNet(nn.Module):
    """``s (..., 1) -> G (..., widths[-1])``.

    Parameters
    ----------
    widths
        Layer widths, e.g. (25, 50, 100).
    dtype
        Parameter dtype.
    gen
        Random generator for the initial parameters.
    """

    def __init__(self, widths: Sequence[int], dtype: torch.dtype, gen: torch.Generator):
        super().__init__()
        dims = (1, *widths)
        self.weight = nn.ParameterList(
            _normal(gen, (a, b), 0.0, 1.0 / (a + b) ** 0.5, dtype) for a, b in zip(dims, dims[1:]))
        self.bias = nn.ParameterList(
            _normal(gen, (b,), 0.0, 1.0, dtype) for b in dims[1:])

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Embedding of ``s`` (..., 1) -> (..., widths[-1])."""
        x = s
        for k, (w, b) in enumerate(zip(self.weight, self.bias)):
            y = torch.tanh(x * w[0] + b if k == 0 else torch.matmul(x, w) + b)
            if w.shape[0] == w.shape[1]:
                y = y + x
            elif w.shape[1] == 2 * w.shape[0]:
                y = y + torch.cat([x, x], dim=-1)
            x = y
        return x


class FittingNet(nn.Module):
    """Descriptor ``D (n, dim_in)`` -> atomic energy ``(n,)`` (without the type bias)."""

    def __init__(self, dim_in: int, widths: Sequence[int], dtype: torch.dtype,
                 gen: torch.Generator):
        super().__init__()
        dims = (dim_in, *widths)
        self.weight = nn.ParameterList(
            _normal(gen, (a, b), 0.0, 1.0 / (a + b) ** 0.5, dtype) for a, b in zip(dims, dims[1:]))
        self.bias = nn.ParameterList(_normal(gen, (b,), 0.0, 1.0, dtype) for b in dims[1:])
        self.idt = nn.ParameterList(
            _normal(gen, (b,), 0.1, 0.001, dtype) for a, b in zip(dims, dims[1:]) if a == b)
        self.out_weight = _normal(gen, (dims[-1], 1), 0.0, 1.0 / (dims[-1] + 1) ** 0.5, dtype)
        self.out_bias = _normal(gen, (1,), 0.0, 1.0, dtype)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """Atomic energies (n,) of descriptors ``d`` (n, dim_in)."""
        x, k_idt = d, 0
        for w, b in zip(self.weight, self.bias):
            y = torch.tanh(torch.addmm(b, x, w))
            if w.shape[0] == w.shape[1]:
                y = x + self.idt[k_idt] * y
                k_idt += 1
            x = y
        return torch.addmm(self.out_bias, x, self.out_weight).squeeze(-1)
