"""``train``: how an ensemble of Deep Potential models is trained.

Learning rate ``lr(t) = start_lr * r^(t // decay_steps)`` with ``r`` chosen so
that ``lr(steps) = stop_lr`` (DeePMD-kit's exponential decay; when
``decay_steps`` is not below ``steps`` it becomes ``min(100, steps // 100 + 1)``
as DeePMD-kit does).  Loss prefactors move from ``start_pref_*`` to
``limit_pref_*`` as ``lr`` decays: ``p(t) = limit + (start - limit) lr(t)/start_lr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import Section


class TrainSection(Section):
    """Steps, learning rate, loss prefactors, ensemble size and parallel backend."""

    steps: int = Field(2000, ge=1, description="optimizer steps per model")
    n_models: int = Field(4, ge=1, description="ensemble members (different seeds and data order)")
    batch_size: int = Field(1, ge=1, description="frames per step on each rank")
    start_lr: float = Field(1e-3, gt=0, description="initial learning rate (Adam)")
    stop_lr: float = Field(3.51e-8, gt=0, description="learning rate at the last step")
    decay_steps: int = Field(5000, ge=1, description="steps between learning-rate decays")
    start_pref_e: float = Field(0.02, ge=0, description="energy loss prefactor at the start")
    limit_pref_e: float = Field(1.0, ge=0, description="energy loss prefactor at the end")
    start_pref_f: float = Field(1000.0, ge=0, description="force loss prefactor at the start")
    limit_pref_f: float = Field(1.0, ge=0, description="force loss prefactor at the end")
    start_pref_v: float = Field(0.0, ge=0, description="virial loss prefactor at the start")
    limit_pref_v: float = Field(0.0, ge=0, description="virial loss prefactor at the end")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="last fraction of each system's frames kept for validation")
    disp_freq: int = Field(100, ge=1, description="steps between learning-curve lines")
    save_freq: int = Field(1000, ge=1, description="steps between checkpoints")
    backend: Literal["mpi4py", "horovod", "torch"] = Field(
        "mpi4py", description="gradient averaging across the ranks that train one member")
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="scale start_lr by the number of data-parallel workers")
    out: Path = Field(Path("train-out"), description="output directory (ensemble.pt, lcurve)")
    seed: int = Field(1, ge=0, description="seed of member 0; member k uses seed + k")

    @model_validator(mode="after")
    def _consistent(self) -> TrainSection:
        if self.stop_lr > self.start_lr:
            raise ValueError(f"stop_lr ({self.stop_lr}) must not exceed start_lr "
                             f"({self.start_lr})")
        return self
