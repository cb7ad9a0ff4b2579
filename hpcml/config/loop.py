"""``loop``: the concurrent-learning loop of ``hpcml run`` (DP-GEN's ``param.json``).

Each iteration trains the ensemble (from scratch in iteration 0, fine-tuned
from the previous iteration's members afterwards), explores with DPMD walkers
taken from ``schedule`` (entry ``i`` for iteration ``i``; the last entry
repeats), selects candidates by the trust levels of the ``md`` section and
labels them with CP2K (the ``label`` section).  The loop stops when the
accurate fraction is at least ``converge_fraction`` in ``converge_iterations``
consecutive iterations, or after ``max_iterations``.

Initial training data are the labeled systems of the ``data`` section, or
(with ``init``) perturbed copies of given structures labeled by CP2K, or both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import InputPath, Section


class InitSection(Section):
    """Initial data by perturbing structures and labeling them (DP-GEN's init_bulk)."""

    structures: list[InputPath] = Field(
        default_factory=list, description="structure files (any data format; frame 0 is used)")
    replicate: list[int] = Field([1, 1, 1], min_length=3, max_length=3,
                                 description="replicas of each structure along a, b, c")
    n_perturbed: int = Field(20, ge=1, description="perturbed frames per structure")
    cell_perturb: float = Field(
        0.03, ge=0, lt=0.5, description="largest relative change of each cell-matrix element")
    atom_perturb: float = Field(0.1, ge=0, description="largest displacement of an atom, A")


class StageSchedule(Section):
    """Exploration of one iteration: walkers = structures x temperatures x pressures."""

    structures: list[InputPath] = Field(
        default_factory=list, description="start structures; default: the init structures "
        "(or md.structure)")
    temperatures: list[float] = Field([300.0], min_length=1, description="thermostat, K")
    pressures: list[float] = Field([1.0], min_length=1, description="barostat (npt), bar")
    steps: int = Field(1000, ge=1, description="MD steps per walker")
    ensemble: Literal["nve", "nvt", "npt"] | None = Field(
        None, description="statistical ensemble; default md.ensemble")

    @model_validator(mode="after")
    def _positive(self) -> StageSchedule:
        bad = [t for t in self.temperatures if t <= 0]
        if bad:
            raise ValueError(f"temperatures must be positive (got {bad})")
        return self


class LoopSection(Section):
    """Iterations, convergence test, fine-tuning, exploration schedule and final check."""

    max_iterations: int = Field(5, ge=1, description="iterations at most")
    converge_fraction: float = Field(
        0.99, gt=0, le=1, description="accurate fraction that counts as converged")
    converge_iterations: int = Field(
        1, ge=1, description="consecutive converged iterations that stop the loop")
    finetune_steps: int = Field(
        500, ge=1, description="training steps of iterations after the first (the first "
        "uses train.steps); members start from the previous iteration's")
    finetune_start_lr: float = Field(1e-4, gt=0, description="start_lr when fine-tuning")
    finetune_start_pref_e: float = Field(
        0.1, ge=0, description="start_pref_e when fine-tuning")
    finetune_start_pref_f: float = Field(
        100.0, ge=0, description="start_pref_f when fine-tuning")
    init: InitSection | None = Field(
        None, description="initial data from perturbed structures (labeled by CP2K)")
    schedule: list[StageSchedule] = Field(
        default_factory=lambda: [StageSchedule()], min_length=1,
        description="exploration of iteration i: entry i (the last entry repeats)")
    max_candidates: int = Field(
        50, ge=1, description="candidates labeled per iteration at most (evenly spread "
        "over the walkers' candidates)")
    check_frames: int = Field(
        8, ge=0, description="explored frames of the last iteration labeled at the end to "
        "measure the final ensemble on frames it never saw (0: no check)")
    check_seed: int = Field(0, ge=0, description="seed of the random check sample")

    def stage(self, iteration: int) -> StageSchedule:
        """Exploration settings of ``iteration``."""
        return self.schedule[min(iteration, len(self.schedule) - 1)]
