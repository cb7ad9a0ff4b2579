"""Serial reference solver for ``df/dt + v_x df/dx = Q(f)/eps`` in 1D-3V (or Chu 1D-1V).

One step of length ``dt``: SSP-RK2 (Heun) transport with limited
second-order upwind fluxes (:mod:`hpcml.kinetic.transport`), then the
collision step (:mod:`hpcml.kinetic.collision`: BGK implicit, or the
penalized Boltzmann operator) -- an asymptotic-preserving IMEX splitting
whose step is set by the transport CFL alone, whatever ``eps``.

The parallel twin (:mod:`hpcml.kinetic.petsc.solver`) subclasses
:class:`KineticSolver` and overrides only storage (:meth:`_alloc`,
:meth:`_ghosted`) and reductions (:meth:`_allsum`), PetClaw style.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hpcml.kinetic import native
from hpcml.kinetic.bgk import maxwellian_from_state
from hpcml.kinetic.boundary import KINDS, fill_ghosts
from hpcml.kinetic.collision import make_collision
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.moments import conserved, macroscopic
from hpcml.kinetic.transport import CFL_LIMIT, GHOSTS, TransportWork, transport_step

_log = logging.getLogger(__name__)

State = tuple[float, float, float]


@dataclass(frozen=True)
class Problem:
    """The physics and discretization of one kinetic solve.

    Attributes
    ----------
    layout
        Velocity grid and mode.
    nx, xmin, xmax
        Uniform cells on ``[xmin, xmax]``.
    eps
        Knudsen number.
    collision
        ``bgk`` or ``boltzmann``.
    limiter
        ``mc`` or ``minmod``.
    boundary
        ``(left, right)`` kinds: ``periodic`` (both), ``outflow``, ``inflow``, ``wall``.
    inflow
        ``(left, right)`` ``(rho, u, T)`` states of ``inflow`` ends (else None).
    collision_options
        Extra keyword arguments of the collision (e.g. ``n_angles``).
    """

    layout: CellLayout
    nx: int
    xmin: float = 0.0
    xmax: float = 1.0
    eps: float = 1.0
    collision: str = "bgk"
    limiter: str = "mc"
    boundary: tuple[str, str] = ("outflow", "outflow")
    inflow: tuple[State | None, State | None] = (None, None)
    collision_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if any(b not in KINDS for b in self.boundary):
            raise ValueError(f"boundary {self.boundary}: kinds are {KINDS}")
        if ("periodic" in self.boundary) and self.boundary != ("periodic", "periodic"):
            raise ValueError("a periodic boundary must be periodic at both ends")
        for side, kind, state in zip(("left", "right"), self.boundary, self.inflow):
            if kind == "inflow" and state is None:
                raise ValueError(f"{side} inflow boundary needs its (rho, u, T) state")
        if self.nx < 2 or not self.xmax > self.xmin or not self.eps > 0:
            raise ValueError(f"need nx >= 2, xmax > xmin, eps > 0 (nx={self.nx}, "
                             f"x=[{self.xmin}, {self.xmax}], eps={self.eps})")

    @property
    def dx(self) -> float:
        """Cell width."""
        return (self.xmax - self.xmin) / self.nx

    @property
    def periodic(self) -> bool:
        """True for a periodic domain."""
        return self.boundary[0] == "periodic"

    def cell_centres(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """X of cells ``start..stop-1`` (all by default), ``(stop - start,)``."""
        stop = self.nx if stop is None else stop
        return self.xmin + (np.arange(start, stop) + 0.5) * self.dx


@dataclass(frozen=True)
class TimeOptions:
    """Algorithm knobs (the ``-kinetic_ts_*`` PETSc options).

    Attributes
    ----------
    cfl
        ``max|v_x| dt/dx``; default 90 % of the positivity limit of the limiter.
    max_steps
        Stop after this many steps (None: no limit).
    relax
        BGK relaxation: ``implicit`` (backward Euler) or ``exponential``.
    kernels
        ``auto`` (the fused C kernels of :mod:`hpcml.kinetic.native` when they
        build, else numpy), ``native`` (an error when they do not) or ``numpy``.
    """

    cfl: float | None = None
    max_steps: int | None = None
    relax: str = "implicit"
    kernels: str = "auto"


def box_mass_loss(u: np.ndarray, T: np.ndarray, vmax: float, dim: int) -> float:
    """Largest fraction of a Maxwellian's mass outside ``[-vmax, vmax]^dim`` over states.

    ``u`` (x-velocity) and ``T`` are arrays of the same shape.
    """
    erf = np.vectorize(math.erf)
    s = np.sqrt(2 * np.asarray(T, dtype=float))
    inside_x = 0.5 * (erf((vmax - u) / s) - erf((-vmax - u) / s))
    inside_t = erf(vmax / s) ** (dim - 1)
    return float(np.max(1.0 - inside_x * inside_t, initial=0.0))


class KineticSolver:
    """Serial reference solver (all cells in one numpy block)."""

    def __init__(self, problem: Problem, options: TimeOptions | None = None):
        self.problem = problem
        self.layout = problem.layout
        self.options = options or TimeOptions()
        self.collision = make_collision(problem.collision, problem.layout, problem.eps,
                                        relax=self.options.relax, **problem.collision_options)
        self._setup_storage()
        shape = (self.n_local, *self.layout.shape)
        self.f = self._alloc(shape)
        self._stage = [self._alloc(shape), self._alloc(shape)]
        self._work = TransportWork()
        self._native = native.select(self.options.kernels)
        self._plan = None if self._native is None else native.TransportPlan(self.layout)
        self._bgk_work: dict = {}
        self._edge = [np.zeros((2, *self.layout.shape)) for _ in range(2)]
        self._inflow = [None if s is None else maxwellian_from_state(*s, self.layout)
                        for s in problem.inflow]
        self.t = 0.0
        self.steps = 0
        self.boundary_loss = np.zeros(5)   # conserved quantities that left through the ends
        self.initial_totals = np.zeros(5)

    @property
    def kernels(self) -> dict[str, str]:
        """Which kernels run: ``{"transport": "native"|"numpy", "collision": ...}``."""
        fast = self._native is not None
        return {"transport": "native" if fast else "numpy",
                "collision": "native" if fast and self.problem.collision == "bgk" else "numpy"}

    # --- storage and reductions: what the parallel twin overrides -------------------
    def _setup_storage(self) -> None:
        """Own all cells."""
        self.offset, self.n_local = 0, self.problem.nx
        self._fg = np.empty((self.problem.nx + 2 * GHOSTS, *self.layout.shape))

    def _alloc(self, shape: tuple) -> np.ndarray:
        """A block of cells ``(n_local, *shape)``."""
        return np.zeros(shape)

    def _ghosted(self, a: np.ndarray) -> np.ndarray:
        """``a`` with two ghost cells per side filled (periodic copy or boundary)."""
        fg = self._fg
        fg[GHOSTS:-GHOSTS] = a
        if self.problem.periodic:
            fg[:GHOSTS] = a[-GHOSTS:]
            fg[-GHOSTS:] = a[:GHOSTS]
        else:
            self._fill_ends(fg, left=True, right=True)
        return fg

    def _allsum(self, a: np.ndarray) -> np.ndarray:
        """Sum of ``a`` over ranks (identity here)."""
        return np.asarray(a, dtype=float)

    # --- shared by both -------------------------------------------------------------
    def _fill_ends(self, fg: np.ndarray, left: bool, right: bool) -> None:
        """Fill the physical-boundary ghosts of the ends this block owns."""
        for side, own, kind, inflow in zip(("left", "right"), (left, right),
                                           self.problem.boundary, self._inflow):
            if own:
                fill_ghosts(fg, side, kind, self.layout, inflow)

    @property
    def owns_left(self) -> bool:
        """True when this block holds the leftmost cell."""
        return self.offset == 0

    @property
    def owns_right(self) -> bool:
        """True when this block holds the rightmost cell."""
        return self.offset + self.n_local == self.problem.nx

    @property
    def x(self) -> np.ndarray:
        """Cell centres of this block, ``(n_local,)``."""
        return self.problem.cell_centres(self.offset, self.offset + self.n_local)

    def set_state(self, rho: np.ndarray, u: np.ndarray, T: np.ndarray) -> None:
        """Start from local Maxwellians of ``(rho, u, T)`` given on this block's cells.

        Raises
        ------
        ValueError
            For non-positive density or temperature (naming the cell).
        """
        rho, u, T = (np.broadcast_to(np.asarray(a, dtype=float), (self.n_local,))
                     for a in (rho, u, T))
        for name, a in (("density", rho), ("temperature", T)):
            bad = np.flatnonzero(~(a > 0))
            if bad.size:
                k = bad[0]
                raise ValueError(f"initial {name} must be positive; cell {self.offset + k} "
                                 f"(x = {self.x[k]:.6g}) has {a[k]:.6g}")
        self.f[...] = maxwellian_from_state(rho, u, T, self.layout)
        self.t, self.steps = 0.0, 0
        self.boundary_loss[:] = 0.0
        self.initial_totals = self.totals()

    def totals(self) -> np.ndarray:
        """Global ``(mass, momentum x/y/z, energy)`` integrals over x, ``(5,)``."""
        local = conserved(self.f, self.layout).sum(0) * self.problem.dx
        return self._allsum(local)

    def conservation_errors(self) -> dict[str, float]:
        """Relative drift of mass, momentum and energy, fluxes through the ends accounted.

        Momentum drift is relative to ``sqrt(2 mass energy)`` (the momentum scale).
        """
        loss = self._allsum(self.boundary_loss)
        d = self.totals() + loss - self.initial_totals
        m0, e0 = self.initial_totals[0], self.initial_totals[4]
        return {"mass": float(abs(d[0]) / abs(m0)),
                "momentum": float(np.abs(d[1:4]).max() / math.sqrt(2 * abs(m0 * e0))),
                "energy": float(abs(d[4]) / abs(e0))}

    def moments(self) -> dict[str, np.ndarray]:
        """``rho, u, T, q, P`` on this block's cells."""
        return macroscopic(self.f, self.layout)

    def max_dt(self, warn: bool = True) -> float:
        """The step allowed by the CFL number (warns and clamps above the positivity limit)."""
        limit = CFL_LIMIT[self.problem.limiter]
        cfl = self.options.cfl if self.options.cfl is not None else 0.9 * limit
        if cfl > limit:
            if warn:
                _log.warning("CFL %.3g exceeds the positivity limit %.3g of limiter %s; "
                             "using %.3g", cfl, limit, self.problem.limiter, limit)
            cfl = limit
        vmax = float(np.abs(self.layout.grid.v).max())
        return cfl * self.problem.dx / vmax

    def step(self, dt: float) -> None:
        """Advance by ``dt``: SSP-RK2 transport, then the collision step."""
        nu = dt / self.problem.dx
        lim, vx, work = self.problem.limiter, self.layout.vx, self._work
        f1, f2 = self._stage
        for src, dst, edge in ((self.f, f1, self._edge[0]), (f1, f2, self._edge[1])):
            if self._native is not None:
                self._native.transport_step(self._ghosted(src), self.layout, nu, lim, out=dst,
                                            edge_flux=edge, plan=self._plan)
            else:
                transport_step(self._ghosted(src), vx, nu, lim, out=dst, edge_flux=edge,
                               work=work)
        np.add(self.f, f2, out=f1)
        f1 *= 0.5
        self._account_boundary(dt)
        if self._native is not None and self.problem.collision == "bgk":
            self._native.bgk_step(f1, self.layout, self.problem.eps, dt,
                                  relax=self.options.relax, out=self.f, work=self._bgk_work)
        else:
            self.collision.step(f1, dt, out=self.f)
        self.t += dt
        self.steps += 1

    def _account_boundary(self, dt: float) -> None:
        """Add what flowed out through the physical ends during the step."""
        if self.problem.periodic or not (self.owns_left or self.owns_right):
            return
        flux = 0.5 * (self._edge[0] + self._edge[1])
        net = np.zeros_like(flux[0])
        if self.owns_right:
            net += flux[1]
        if self.owns_left:
            net -= flux[0]
        self.boundary_loss += dt * conserved(net, self.layout)

    def run(self, t_end: float, n_outputs: int = 1,
            on_output: Callable[[KineticSolver], None] | None = None,
            progress: Callable[[KineticSolver], None] | None = None,
            monitor: bool = False) -> dict:
        """Step to ``t_end``, calling ``on_output`` at ``n_outputs + 1`` equally spaced times.

        ``progress`` is called after each output interval, ``monitor`` logs every step.

        Returns
        -------
        dict
            ``steps``, ``t``, ``wall_s`` (stepping only), ``cell_velocity_updates_per_s``,
            ``conservation`` (relative drifts), ``stopped`` (None, or why it stopped early)
            and ``kernels`` (:attr:`kernels`).
        """
        times = np.linspace(self.t, t_end, n_outputs + 1)
        dt_max = self.max_dt()
        wall, stopped = 0.0, None
        if on_output:
            on_output(self)
        for t_next in times[1:]:
            start = time.perf_counter()
            while self.t < t_next * (1 - 1e-14) and stopped is None:
                if self.options.max_steps is not None and self.steps >= self.options.max_steps:
                    stopped = f"reached -kinetic_ts_max_steps {self.options.max_steps}"
                    break
                self.step(min(dt_max, t_next - self.t))
                if monitor:
                    _log.info("step %d: t = %.6g", self.steps, self.t)
            if stopped is None:
                self.t = float(t_next)   # drop the round-off of the summed steps
            wall += time.perf_counter() - start
            if progress:
                progress(self)
            if on_output:
                on_output(self)
            if stopped:
                break
        updates = self.steps * self.problem.nx * self.layout.dof
        return {"steps": self.steps, "t": self.t, "wall_s": wall,
                "cell_velocity_updates_per_s": updates / wall if wall > 0 else 0.0,
                "conservation": self.conservation_errors(), "stopped": stopped,
                "kernels": self.kernels}
