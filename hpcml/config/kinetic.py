"""``kinetic``: the PETSc kinetic solver (``hpcml kinetic CONFIG``).

Physics and discretization live here; algorithm knobs (CFL number, step
limit, BGK relaxation form) are PETSc options ``-kinetic_ts_*``, given on
the command line or in ``petsc_options``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import Section

BoundaryKind = Literal["periodic", "outflow", "inflow", "wall"]
State = tuple[float, float, float]


class VelocitySection(Section):
    """The velocity grid of every cell."""

    mode: Literal["chu", "full"] = Field(
        "chu", description="chu: the reduced 1D-1V pair (g, h), exact for BGK without "
        "transverse flow and cheap; full: the 3D grid (n**3 points per cell, needed by "
        "collision: boltzmann)")
    n: int | None = Field(
        None, ge=4, description="velocity points per direction; default from the Knudsen number "
        "(hpcml.kinetic.resolution: 64 below 0.05, 128 below 0.2, 256 from 0.2 on, which keeps "
        "the velocity-grid error in density below 2e-3 on Sod; full mode caps it at 64)")
    vmax: float | None = Field(
        None, gt=0, description="half-width of the velocity box [-vmax, vmax) per direction; "
        "default max|u| + 6.5 sqrt(max T) of the initial data")


class BoundarySection(Section):
    """The two ends of the x interval."""

    left: BoundaryKind = Field("outflow", description="left end: periodic (both ends), "
                               "outflow (zero gradient), inflow (Maxwellian of left_state), "
                               "wall (specular reflection)")
    right: BoundaryKind = Field("outflow", description="right end (as left)")
    left_state: State | None = Field(None, description="(rho, u, p) entering at an inflow "
                                     "left end")
    right_state: State | None = Field(None, description="(rho, u, p) entering at an inflow "
                                      "right end")

    @model_validator(mode="after")
    def _consistent(self) -> BoundarySection:
        if (self.left == "periodic") != (self.right == "periodic"):
            raise ValueError("periodic must be set at both ends (left and right)")
        for side, kind, state in (("left", self.left, self.left_state),
                                  ("right", self.right, self.right_state)):
            if kind == "inflow" and state is None:
                raise ValueError(f"{side}: inflow needs {side}_state: [rho, u, p]")
            if state is not None and not (state[0] > 0 and state[2] > 0):
                raise ValueError(f"{side}_state {list(state)}: rho and p must be positive")
        return self


class InitialSection(Section):
    """Macroscopic initial data (hpcml.kinetic.initial); the solver starts from Maxwellians."""

    type: Literal["sod", "riemann", "smooth_wave", "random_mixture"] = Field(
        "sod", description="sod (DESIGN.md data), riemann (left/right states), smooth_wave "
        "or random_mixture (periodic, seeded)")
    left: State = Field((1.0, 0.0, 1.0), description="(rho, u, p) left of x0 (sod, riemann)")
    right: State = Field((0.125, 0.0, 0.1), description="(rho, u, p) right of x0 "
                         "(sod, riemann)")
    x0: float = Field(0.5, description="position of the discontinuity (sod, riemann)")
    seed: int = Field(0, ge=0, description="seed of smooth_wave / random_mixture "
                      "(recorded in the output)")
    options: dict[str, float | int | list[float]] = Field(
        default_factory=dict, description="further keyword arguments of the generator "
        "(e.g. amplitude, n_modes, max_jumps)")


class KineticSection(Section):
    """Domain, grids, collision model, initial data and outputs of ``hpcml kinetic``."""

    collision: Literal["bgk", "boltzmann"] = Field(
        "bgk", description="bgk (moment-corrected discrete Maxwellian) or boltzmann "
        "(Maxwell molecules, fast spectral; needs velocity.mode: full)")
    knudsen: float = Field(1e-4, gt=0, description="Knudsen number eps in "
                           "df/dt + v_x df/dx = Q(f)/eps")
    x: tuple[float, float] = Field((0.0, 1.0), description="the interval [xmin, xmax]")
    nx: int = Field(200, ge=2, description="cells in x (distributed over the ranks)")
    velocity: VelocitySection = Field(default_factory=VelocitySection,
                                      description="velocity grid")
    limiter: Literal["mc", "minmod"] = Field("mc", description="slope limiter of the "
                                             "second-order upwind transport")
    boundary: BoundarySection = Field(default_factory=BoundarySection,
                                      description="boundary conditions")
    initial: InitialSection = Field(default_factory=InitialSection, description="initial data")
    t_end: float = Field(0.2, gt=0, description="final time")
    outputs: int = Field(4, ge=1, description="output intervals: moments are written at "
                         "outputs + 1 equally spaced times from 0 to t_end")
    out: Path = Field(Path("kinetic-out/moments.h5"), description="HDF5 file of the moments "
                      "(rho, u, T, q, P with x and t)")
    snapshots: bool = Field(False, description="also write f at each output time (large)")
    n_angles: int = Field(16, ge=1, description="angular points of the fast spectral "
                          "Boltzmann operator")
    petsc_options: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="PETSc options without the dash, e.g. "
        "{kinetic_ts_cfl: 0.4}; unknown -kinetic_* names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> KineticSection:
        if not self.x[1] > self.x[0]:
            raise ValueError(f"x {list(self.x)}: need xmin < xmax")
        if self.collision == "boltzmann" and self.velocity.mode != "full":
            raise ValueError("collision: boltzmann needs velocity.mode: full (the Boltzmann "
                             "operator acts on the 3D velocity grid)")
        periodic_data = self.initial.type in ("smooth_wave", "random_mixture")
        if periodic_data and self.boundary.left != "periodic":
            raise ValueError(f"initial.type {self.initial.type} is periodic data: set "
                             "boundary.left and boundary.right to periodic")
        return self
