"""``moments``: the moment-system solve (``hpcml moments solve CONFIG``).

The problem (domain, boundaries, initial data, Knudsen number) is described
as for ``hpcml kinetic`` -- the same sub-sections -- so one Sod or wave problem
is solved by both and compared.  Algorithm knobs (CFL number, Riemann flux,
relaxation form, step limit) are PETSc options ``-moments_*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import Section
from hpcml.config.kinetic import BoundarySection, InitialSection


class MomentsSection(Section):
    """Closure, domain, boundaries, initial data and outputs of ``hpcml moments solve``."""

    closure: Literal["euler", "ns", "grad"] = Field(
        "euler", description="euler (W empty), ns (Navier-Stokes with BGK's Chapman-Enskog "
        "viscosity mu = eps p and conductivity 5/2 eps p, Pr 1) or grad (Grad's 13 moments "
        "in 1D: stress and heat flux relaxing at BGK's rate 1/eps); docs/moments.md")
    knudsen: float = Field(1e-4, gt=0, description="Knudsen number eps of the BGK operator "
                           "(M - f)/eps the closure stands for")
    x: tuple[float, float] = Field((0.0, 1.0), description="the interval [xmin, xmax]")
    nx: int = Field(200, ge=2, description="cells in x (distributed over the ranks)")
    limiter: Literal["mc", "minmod"] = Field("mc", description="slope limiter of the MUSCL "
                                             "reconstruction of the primitive variables")
    boundary: BoundarySection = Field(default_factory=BoundarySection,
                                      description="boundary conditions (as kinetic.boundary)")
    initial: InitialSection = Field(default_factory=InitialSection,
                                    description="initial data (as kinetic.initial): local "
                                    "Maxwellians, so W starts at equilibrium")
    t_end: float = Field(0.2, gt=0, description="final time")
    outputs: int = Field(4, ge=1, description="output intervals: moments are written at "
                         "outputs + 1 equally spaced times from 0 to t_end")
    out: Path = Field(Path("moments-out/moments.h5"), description="HDF5 file of the moments "
                      "(rho, u, T, q, P with x and t: the layout of hpcml kinetic)")
    petsc_options: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="PETSc options without the dash, e.g. "
        "{moments_ts_cfl: 0.4, moments_flux: hll}; unknown -moments_* names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> MomentsSection:
        if not self.x[1] > self.x[0]:
            raise ValueError(f"x {list(self.x)}: need xmin < xmax")
        periodic_data = self.initial.type in ("smooth_wave", "random_mixture")
        if periodic_data and self.boundary.left != "periodic":
            raise ValueError(f"initial.type {self.initial.type} is periodic data: set "
                             "boundary.left and boundary.right to periodic")
        return self
