"""Small untrained DeepPot models for tests (fast, deterministic, O/H water types)."""

from __future__ import annotations

import torch

from hpcml.molecular.committee import Committee
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec


def small_model(seed: int = 1, sel: tuple[int, int] = (30, 60), rcut: float = 4.0,
                precision: str = "float64", bias: tuple[float, float] | None = None,
                **spec: object) -> DeepPot:
    """A tiny se_e2_a model (embedding [8, 16], axis 4, fitting [16]) with fixed statistics.

    ``spec`` overrides other :class:`DeepPotSpec` fields; ``bias`` sets the
    per-type energy bias (eV).
    """
    fields = {"neuron": (8, 16), "axis_neuron": 4, "fitting_neuron": (16,), **spec}
    model = DeepPot(DeepPotSpec(rcut=rcut, sel=sel, seed=seed, precision=precision, **fields))
    model.descriptor.set_stats(torch.tensor([[0.1, 0, 0, 0], [0.2, 0, 0, 0]]),
                               torch.tensor([[0.5, 0.3, 0.3, 0.3], [0.6, 0.2, 0.2, 0.2]]))
    if bias is not None:
        model.bias_atom_e.copy_(torch.tensor(bias))
    return model


def small_committee(k: int = 2, sel: tuple[int, int] = (30, 60)) -> Committee:
    """``k`` tiny models with seeds 1..k (they disagree, so deviations are > 0)."""
    return Committee([small_model(seed, sel) for seed in range(1, k + 1)])
