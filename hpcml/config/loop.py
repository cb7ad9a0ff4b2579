"""``loop``: the concurrent-learning loop of ``hpcml run`` (DP-GEN's ``param.json``).

Each iteration trains the ensemble (``retrain: scratch`` trains new members
on all data every iteration; ``finetune`` starts from the previous
iteration's members with a learning-rate restart, optionally mixing old and
new data as DP-GEN's ``training_reuse_old_ratio``), tests it on the fixed
held-out set, sets the trust levels (``trust``), explores with DPMD walkers
of the current ``schedule`` stage, selects candidates within the trust window
and labels them with CP2K (the ``label`` section).  A stage is repeated
until its accurate fraction reaches its ``converge_fraction`` (or
``max_repeats``), then the next stage runs; the loop stops when the last
stage has converged in ``converge_iterations`` consecutive iterations, or
after ``max_iterations``.

Initial data are the labeled systems of the ``data`` section and/or
``init``: short CP2K MD runs at the target temperatures (``mode: md``, the
default, as DP-GEN's init_bulk) or perturbed copies of the structures
(``mode: perturb``), labeled by the ``label`` section's CP2K template.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import InputPath, Section


class InitSection(Section):
    """Initial training data and the fixed held-out set (DP-GEN's init_bulk).

    ``mode: md`` runs, per temperature, one CP2K NVT MD from the structure
    whose frames (every ``every`` steps after ``skip``) are training data,
    and one independent MD (another seed, from ``heldout_structures`` when
    given) whose frames form the held-out set that every iteration's
    ensemble is tested on and never trained on.
    ``mode: perturb`` labels ``n_perturbed`` strained and displaced copies.
    """

    mode: Literal["md", "perturb"] = Field(
        "md", description="md: CP2K MD at the temperatures; perturb: perturbed copies")
    structures: list[InputPath] = Field(
        default_factory=list, description="structure files (any data format; frame 0 is used)")
    replicate: list[int] = Field([1, 1, 1], min_length=3, max_length=3,
                                 description="replicas of each structure along a, b, c")
    temperatures: list[float] = Field([300.0], min_length=1,
                                      description="md: CP2K MD temperatures, K")
    steps: int = Field(100, ge=1, description="md: MD steps of each training run")
    dt: float = Field(0.5, gt=0, le=5, description="md: time step, fs")
    every: int = Field(5, ge=1, description="md: steps between kept frames")
    skip: int = Field(10, ge=0, description="md: equilibration steps not kept")
    tau: float = Field(20.0, gt=0, description="md: CSVR thermostat time constant, fs")
    start_factor: float = Field(
        2.0, ge=0, description="md: initial velocities at start_factor x temperature (a "
        "relaxed structure takes half the kinetic energy into potential energy; 1 for an "
        "equilibrated one; 0: CP2K's own at the temperature)")
    heldout_steps: int = Field(
        100, ge=0, description="md: steps of the independent held-out run per temperature "
        "(0: no held-out set)")
    heldout_structures: list[InputPath] = Field(
        default_factory=list, description="md: start structures of the held-out runs (empty: "
        "the training structures, with another seed); give other configurations so that the "
        "held-out frames are not near copies of the training frames")
    template_patch: dict = Field(
        default_factory=dict, description="md: nested CP2K keys merged over the label "
        "template for the MD runs (e.g. {force_eval: {dft: {scf: {eps_scf: 1.0e-6}}}})")
    n_perturbed: int = Field(20, ge=1, description="perturb: perturbed frames per structure")
    cell_perturb: float = Field(
        0.03, ge=0, lt=0.5, description="perturb: largest relative change of each "
        "cell-matrix element")
    atom_perturb: float = Field(0.1, ge=0, description="perturb: largest displacement of an "
                                "atom, A")

    @model_validator(mode="after")
    def _sane(self) -> InitSection:
        bad = [t for t in self.temperatures if t <= 0]
        if bad:
            raise ValueError(f"temperatures must be positive (got {bad})")
        other = {"md": ("n_perturbed", "cell_perturb", "atom_perturb"),
                 "perturb": ("temperatures", "steps", "dt", "every", "skip", "tau", "start_factor",
                             "heldout_steps", "heldout_structures", "template_patch")}[self.mode]
        stray = sorted(k for k in set(other) & self.model_fields_set
                       if getattr(self, k) != type(self).model_fields[k].get_default(
                           call_default_factory=True))
        if stray:
            raise ValueError(f"{stray} belong to the other init mode; set mode: "
                             f"{'perturb' if self.mode == 'md' else 'md'} or remove them")
        if self.mode == "md" and self.skip > self.steps:
            raise ValueError(f"skip ({self.skip}) must not exceed steps ({self.steps}): no "
                             "frame would be kept")
        return self


class TrustSection(Section):
    """Trust levels of the force deviation (eV/A), fixed or following the models.

    ``mode: absolute`` uses ``md.trust_lo`` / ``md.trust_hi``.  ``mode: error``
    sets them each iteration from the ensemble's validation force RMSE
    ``e`` (the mean over members, on a validation set that holds the new
    frames): ``trust_lo = max(lo_min, lo_factor * e)``,
    ``trust_hi = max(hi_min, hi_factor * e)`` (DP-GEN's water runs: trust_lo
    about 3x the models' force error), and never above the previous
    iteration's levels: a validation set that took in hard frames must not
    loosen the levels and let the walkers explore what the models cannot
    describe.
    """

    mode: Literal["absolute", "error"] = Field(
        "absolute", description="absolute: md.trust_lo/trust_hi; error: multiples of the "
        "validation force RMSE")
    lo_factor: float = Field(2.5, gt=0, description="error: trust_lo / validation force RMSE")
    hi_factor: float = Field(5.0, gt=0, description="error: trust_hi / validation force RMSE")
    lo_min: float = Field(0.05, ge=0, description="error: lowest trust_lo, eV/A")
    hi_min: float = Field(0.3, gt=0, description="error: lowest trust_hi, eV/A")

    @model_validator(mode="after")
    def _ordered(self) -> TrustSection:
        if self.hi_factor <= self.lo_factor:
            raise ValueError(f"hi_factor ({self.hi_factor}) must exceed lo_factor "
                             f"({self.lo_factor})")
        return self

    def levels(self, force_rmse: float, absolute: tuple[float, float],
               previous: tuple[float, float] | None = None) -> tuple[float, float]:
        """(trust_lo, trust_hi) for a validation force RMSE (eV/A).

        ``previous``: the levels of the iteration before (error mode never
        raises them).
        """
        if self.mode == "absolute":
            return absolute
        lo = max(self.lo_min, self.lo_factor * force_rmse)
        hi = max(self.hi_min, self.hi_factor * force_rmse)
        if previous is not None:
            lo, hi = min(lo, previous[0]), min(hi, previous[1])
        return lo, hi


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
    converge_fraction: float | None = Field(
        None, gt=0, le=1, description="accurate fraction that ends this stage (default "
        "loop.converge_fraction)")
    max_repeats: int = Field(
        3, ge=1, description="iterations of this stage at most before the next stage runs")

    @model_validator(mode="after")
    def _positive(self) -> StageSchedule:
        bad = [t for t in self.temperatures if t <= 0]
        if bad:
            raise ValueError(f"temperatures must be positive (got {bad})")
        return self


class LoopSection(Section):
    """Iterations, retraining, trust levels, exploration schedule and final check."""

    max_iterations: int = Field(5, ge=1, description="iterations at most")
    converge_fraction: float = Field(
        0.99, gt=0, le=1, description="accurate fraction that counts as converged")
    converge_iterations: int = Field(
        1, ge=1, description="consecutive converged iterations of the last stage that stop "
        "the loop")
    retrain: Literal["scratch", "finetune"] = Field(
        "finetune", description="scratch: new members trained on all data every iteration "
        "(train.steps); finetune: start from the previous members (finetune_steps)")
    finetune_steps: int = Field(
        500, ge=1, description="finetune: training steps of iterations after the first (the "
        "first uses train.steps)")
    finetune_start_lr: float = Field(1e-4, gt=0, description="finetune: start_lr (restart)")
    finetune_start_pref_e: float = Field(
        0.1, ge=0, description="finetune: start_pref_e")
    finetune_start_pref_f: float = Field(
        100.0, ge=0, description="finetune: start_pref_f")
    old_ratio: float | None = Field(
        None, gt=0, lt=1, description="finetune: probability that a training step draws an "
        "old frame (earlier iterations and init); the rest are the newest labels (DP-GEN's "
        "training_reuse_old_ratio; default: all frames alike)")
    trust: TrustSection = Field(default_factory=TrustSection,
                                description="trust levels: absolute or from the model error")
    init: InitSection | None = Field(
        None, description="initial data (CP2K MD or perturbed structures) and held-out set")
    schedule: list[StageSchedule] = Field(
        default_factory=lambda: [StageSchedule()], min_length=1,
        description="exploration stages; each repeats until its accurate fraction reaches "
        "its converge_fraction (or max_repeats), then the next one runs")
    max_candidates: int = Field(
        50, ge=1, description="candidates labeled per iteration at most (spread over the "
        "walkers' trajectories and the deviation range)")
    check_frames: int = Field(
        8, ge=0, description="explored frames of the last iteration labeled at the end to "
        "measure the final ensemble on frames it never saw (0: no check)")
    check_seed: int = Field(0, ge=0, description="seed of the random check sample")

    def stage_threshold(self, k: int) -> float:
        """Accurate fraction that ends stage ``k``."""
        stage = self.schedule[k]
        return self.converge_fraction if stage.converge_fraction is None else \
            stage.converge_fraction

    def stage_index(self, accurate: list[float]) -> int:
        """Stage of the next iteration after iterations with ``accurate`` fractions.

        Stage ``k`` repeats until an iteration of it reaches its threshold or
        it ran ``max_repeats`` times; the last stage repeats for ever.
        """
        k, repeats = 0, 0
        for fraction in accurate:
            repeats += 1
            last = k == len(self.schedule) - 1
            if not last and (fraction >= self.stage_threshold(k)
                             or repeats >= self.schedule[k].max_repeats):
                k, repeats = k + 1, 0
        return k
