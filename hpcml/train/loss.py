"""Learning-rate schedule and the energy/force/virial loss of DeePMD-kit.

``loss = p_e(t) mean(dE^2) / N + p_f(t) mean(dF^2) + p_v(t) mean(dW^2) / N``
with ``N`` the atoms per frame and prefactors that follow the learning rate
(:mod:`hpcml.config.train`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hpcml.train.data import TrainBatch


@dataclass(frozen=True)
class ExpDecay:
    """``lr(t) = start_lr * rate^(t // decay_steps)``, reaching ``stop_lr`` at ``steps``."""

    start_lr: float
    stop_lr: float
    steps: int
    decay_steps: int = 5000

    @property
    def effective_decay_steps(self) -> int:
        """DeePMD-kit's rule: a decay interval not below ``steps`` is shortened."""
        if self.decay_steps < self.steps:
            return self.decay_steps
        return 100 if self.steps // 10 > 100 else self.steps // 100 + 1

    @property
    def rate(self) -> float:
        """Decay factor per interval."""
        return math.exp(math.log(self.stop_lr / self.start_lr)
                        * self.effective_decay_steps / self.steps)

    def __call__(self, step: int) -> float:
        """Learning rate at ``step`` (0-based)."""
        return self.start_lr * self.rate ** (step // self.effective_decay_steps)


@dataclass(frozen=True)
class Prefactors:
    """Start and limit prefactors of the energy, force and virial terms."""

    start_e: float = 0.02
    limit_e: float = 1.0
    start_f: float = 1000.0
    limit_f: float = 1.0
    start_v: float = 0.0
    limit_v: float = 0.0

    def at(self, ratio: float) -> tuple[float, float, float]:
        """Prefactors ``(p_e, p_f, p_v)`` when ``lr / start_lr == ratio``."""
        mix = lambda s, lim: lim + (s - lim) * ratio  # noqa: E731
        return (mix(self.start_e, self.limit_e), mix(self.start_f, self.limit_f),
                mix(self.start_v, self.limit_v))


def loss_and_metrics(pred: dict[str, torch.Tensor], data: TrainBatch,
                     prefs: tuple[float, float, float]) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss and its RMSE metrics.

    Returns
    -------
    tuple
        ``(loss, {"rmse": sqrt(loss), "rmse_e": eV/atom, "rmse_f": eV/A,
        "rmse_v": eV/atom})`` (``rmse_v`` with a virial term only).
    """
    p_e, p_f, p_v = prefs
    d_e = pred["energy"] - data.energy
    l2_e = torch.mean(d_e**2 / data.natoms)
    l2_f = torch.mean((pred["force"] - data.force) ** 2)
    loss = p_e * l2_e + p_f * l2_f
    metrics = {"rmse_e": torch.sqrt(torch.mean((d_e / data.natoms) ** 2)).item(),
               "rmse_f": torch.sqrt(l2_f).item()}
    if p_v > 0 and data.virial is not None and "virial" in pred:
        d_v = (pred["virial"] - data.virial).reshape(-1, 9)
        loss = loss + p_v * torch.mean(d_v**2 / data.natoms[:, None])
        metrics["rmse_v"] = torch.sqrt(torch.mean((d_v / data.natoms[:, None]) ** 2)).item()
    metrics["rmse"] = math.sqrt(max(loss.item(), 0.0))
    return loss, metrics
