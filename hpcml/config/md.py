"""``md``: DPMD exploration driven by a trained ensemble (``hpcml md``).

One job runs one or more *walkers* (systems / temperatures / pressures, like
DP-GEN's ``model_devi_jobs``); the ranks are split among the walkers and each
walker is domain-decomposed over its ranks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import InputPath, Section


class WalkerSection(Section):
    """One MD run: its start structure and thermodynamic state."""

    structure: InputPath | None = Field(
        None, description="start structure (any data format); default: md.structure")
    frame: int = Field(0, description="frame of the structure file to start from")
    temperature: float = Field(330.0, gt=0, description="thermostat temperature, K")
    pressure: float = Field(1.0, description="barostat pressure (npt only), bar")
    seed: int | None = Field(None, ge=0, description="velocity/noise seed; default md.seed + k")
    trust_lo: float | None = Field(None, ge=0, description="this walker's trust_lo (eV/A); "
                                   "default md.trust_lo")
    trust_hi: float | None = Field(None, gt=0, description="this walker's trust_hi (eV/A); "
                                   "default md.trust_hi")


class MdSection(Section):
    """Integrator, thermostat, deviation sampling and outputs of ``hpcml md``."""

    model: InputPath | None = Field(None, description="ensemble.pt written by hpcml train")
    structure: InputPath | None = Field(None, description="start structure (any data format)")
    replicate: list[int] = Field([1, 1, 1], min_length=3, max_length=3,
                                 description="replicas of the start cell along a, b, c")
    ensemble: Literal["nve", "nvt", "npt"] = Field("nvt", description="statistical ensemble")
    thermostat: Literal["langevin", "nhc"] = Field("nhc", description="NVT/NPT thermostat")
    dt: float = Field(0.5, gt=0, description="time step, fs")
    steps: int = Field(1000, ge=1, description="MD steps per walker")
    tau_t: float = Field(100.0, gt=0, description="thermostat time constant, fs "
                                                  "(langevin friction = 1 / tau_t)")
    nhc_chain: int = Field(3, ge=1, description="Nose-Hoover chain length")
    tau_p: float = Field(1000.0, gt=0, description="barostat time constant, fs")
    compressibility: float = Field(4.5e-5, gt=0, description="barostat compressibility, 1/bar")
    skin: float = Field(1.0, gt=0, description="Verlet skin of the neighbour lists, A")
    grid: list[int] | None = Field(None, min_length=3, max_length=3,
                                   description="processor grid per walker (default: automatic)")
    model_devi_freq: int = Field(10, ge=1, description="steps between deviation evaluations")
    trust_lo: float = Field(0.05, ge=0, description="max force deviation below: accurate, eV/A")
    trust_hi: float = Field(0.15, gt=0, description="max force deviation from here: failed, eV/A")
    max_candidates: int = Field(100, ge=0, description="most candidates kept per walker")
    traj_freq: int = Field(100, ge=1, description="steps between trajectory frames")
    checkpoint_freq: int = Field(500, ge=1, description="steps between restart files")
    stop_failed: int = Field(
        0, ge=0, description="stop a walker whose deviation is at or above trust_hi in this "
        "many consecutive checks (0: never); its frames so far are kept")
    max_displacement: float = Field(
        1.0, gt=0, description="stop when an atom moves further than this in one step, A")
    seed: int = Field(0, ge=0, description="seed of walker 0 (walker k: seed + k)")
    walkers: list[WalkerSection] = Field(default_factory=lambda: [WalkerSection()],
                                         min_length=1, description="the MD runs of the job")
    out: Path = Field(Path("md-out"), description="output directory")

    @model_validator(mode="after")
    def _consistent(self) -> MdSection:
        for k, w in enumerate(self.walkers):
            lo = self.trust_lo if w.trust_lo is None else w.trust_lo
            hi = self.trust_hi if w.trust_hi is None else w.trust_hi
            if lo >= hi:
                where = "" if w.trust_lo is w.trust_hi is None else f"walkers[{k}]: "
                raise ValueError(f"{where}trust_lo ({lo}) must be below trust_hi ({hi})")
        if any(r < 1 for r in self.replicate):
            raise ValueError(f"replicate {self.replicate}: each entry must be >= 1")
        return self
