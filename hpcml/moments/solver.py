"""Serial reference solver of the moment system (all cells in one numpy block).

``dt U + dx F(U, W) = 0``, ``dt W + dx G(U, W) = R(U, W)/eps`` on ``nx`` uniform
cells, states ``q (n, n_vars)`` (:mod:`hpcml.moments.closure`).  One step of
length ``dt``, an operator splitting like the kinetic solver's:

1. hyperbolic part: SSP-RK2 (Heun) of the finite-volume update with MUSCL
   faces and a Rusanov or HLL flux (:mod:`hpcml.moments.flux`);
2. parabolic part (Navier-Stokes): RKL2 super-time-stepping
   (:mod:`hpcml.moments.rkl2`), as many stages as the viscous limit needs;
3. stiff source: ``closure.relax`` -- exact for BGK's relaxation (Grad),
   linearly implicit in general -- so ``eps`` never restricts ``dt``.

``dt = cfl dx / max|speed|`` over all cells (a global maximum), recomputed
every step.  Every update is in flux form, so ``U`` is conserved to round-off
up to what crosses the physical ends, which is counted
(:meth:`MomentSolver.conservation_errors`).

The PETSc twin (:mod:`hpcml.moments.petsc.solver`) overrides only storage
(:meth:`_setup_storage`, :meth:`_alloc`, :meth:`_ghosted`) and reductions
(:meth:`_allsum`, :meth:`_allmax`, :meth:`_allgather`), as the kinetic one does.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hpcml.errors import UserError
from hpcml.kinetic.boundary import KINDS
from hpcml.kinetic.transport import CFL_LIMIT, GHOSTS
from hpcml.moments.boundary import fill_ghosts
from hpcml.moments.closure import CONSERVED, RELAX, make_closure
from hpcml.moments.flux import FLUXES, face_fluxes
from hpcml.moments.rkl2 import rkl2_step, stages_for

_log = logging.getLogger(__name__)

State = tuple[float, float, float]
#: the most RKL2 stages one step may take (beyond: the closure is far outside its regime)
MAX_STAGES = 2000
#: fraction of the forward-Euler viscous limit dx**2/(2 D) that RKL2 is sized for
VISCOUS_SAFETY = 0.9


class MomentSolveError(UserError):
    """A solve that cannot go on: a non-physical state, or a step the closure cannot take.

    Attributes ``t`` (time) and ``x`` (position, or None) say where.
    """

    def __init__(self, message: str, t: float, x: float | None = None):
        super().__init__(message)
        self.t, self.x = t, x


@dataclass(frozen=True)
class MomentProblem:
    """The physics and grid of one moment solve.

    Attributes
    ----------
    closure
        ``euler``, ``ns`` or ``grad`` (:data:`hpcml.moments.closure.CLOSURES`).
    nx, xmin, xmax
        Uniform cells on ``[xmin, xmax]``.
    eps
        Knudsen number (BGK relaxation time).
    limiter
        ``mc`` or ``minmod`` (on primitive variables).
    boundary
        ``(left, right)`` kinds: ``periodic`` (both), ``outflow``, ``inflow``, ``wall``.
    inflow
        ``(left, right)`` ``(rho, u, T)`` of ``inflow`` ends (else None).
    """

    closure: str
    nx: int
    xmin: float = 0.0
    xmax: float = 1.0
    eps: float = 1.0
    limiter: str = "mc"
    boundary: tuple[str, str] = ("outflow", "outflow")
    inflow: tuple[State | None, State | None] = (None, None)

    def __post_init__(self):
        if any(b not in KINDS for b in self.boundary):
            raise ValueError(f"boundary {self.boundary}: kinds are {KINDS}")
        if ("periodic" in self.boundary) and self.boundary != ("periodic", "periodic"):
            raise ValueError("a periodic boundary must be periodic at both ends")
        for side, kind, state in zip(("left", "right"), self.boundary, self.inflow):
            if kind == "inflow" and state is None:
                raise ValueError(f"{side} inflow boundary needs its (rho, u, T) state")
        if self.limiter not in CFL_LIMIT:
            raise ValueError(f"limiter {self.limiter!r}: choose one of {sorted(CFL_LIMIT)}")
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
    """Algorithm knobs (the ``-moments_*`` PETSc options).

    Attributes
    ----------
    cfl
        ``max|speed| dt/dx``; default 90 % of the limiter's bound (0.45 for MC).
    max_steps
        Stop after this many steps (None: no limit).
    relax
        Source step of BGK-like closures: ``implicit`` (backward Euler) or ``exponential``.
    flux
        Riemann flux: ``rusanov`` or ``hll``.
    """

    cfl: float | None = None
    max_steps: int | None = None
    relax: str = "implicit"
    flux: str = "rusanov"

    def __post_init__(self):
        if self.relax not in RELAX:
            raise ValueError(f"relax {self.relax!r}: choose one of {RELAX}")
        if self.flux not in FLUXES:
            raise ValueError(f"flux {self.flux!r}: choose one of {FLUXES}")


class MomentSolver:
    """Serial reference solver; :attr:`q` is ``(n_local, n_vars)``."""

    def __init__(self, problem: MomentProblem, options: TimeOptions | None = None):
        self.problem = problem
        self.options = options or TimeOptions()
        self.closure = make_closure(problem.closure, problem.eps)
        self.n_vars = self.closure.n_vars
        self._setup_storage()
        shape = (self.n_local, self.n_vars)
        self.q = self._alloc(shape)
        self._stage = [self._alloc(shape) for _ in range(3 if self.closure.viscous else 2)]
        self._parity = np.asarray(self.closure.parity, dtype=float)
        self._inflow = [None if s is None else self.closure.equilibrium(
            *(np.array([v], dtype=float) for v in s))[0] for s in problem.inflow]
        self.t, self.steps, self.stages = 0.0, 0, 0
        k = len(CONSERVED)
        self.boundary_loss = np.zeros(k)   # conserved totals that left through the ends
        self.initial_totals = np.zeros(k)

    # --- storage and reductions: what the parallel twin overrides -------------------
    def _setup_storage(self) -> None:
        """Own all cells."""
        self.offset, self.n_local = 0, self.problem.nx
        self._g = np.empty((self.problem.nx + 2 * GHOSTS, self.n_vars))

    def _alloc(self, shape: tuple) -> np.ndarray:
        """A block of cells ``(n_local, n_vars)``."""
        return np.zeros(shape)

    def _ghosted(self, a: np.ndarray) -> np.ndarray:
        """``a`` with two ghost cells per side filled (periodic copy or boundary)."""
        g = self._g
        g[GHOSTS:-GHOSTS] = a
        if self.problem.periodic:
            g[:GHOSTS] = a[-GHOSTS:]
            g[-GHOSTS:] = a[:GHOSTS]
        else:
            self._fill_ends(g, left=True, right=True)
        return g

    def _allsum(self, a: np.ndarray) -> np.ndarray:
        """Sum of ``a`` over ranks (identity here)."""
        return np.asarray(a, dtype=float)

    def _allmax(self, a: np.ndarray) -> np.ndarray:
        """Largest ``a`` (elementwise) over ranks (identity here)."""
        return np.asarray(a, dtype=float)

    def _allgather(self, obj: object) -> list:
        """``[obj]`` of every rank."""
        return [obj]

    # --- shared by both -------------------------------------------------------------
    def _fill_ends(self, g: np.ndarray, left: bool, right: bool) -> None:
        """Fill the physical-boundary ghosts of the ends this block owns."""
        for side, own, kind, inflow in zip(("left", "right"), (left, right),
                                           self.problem.boundary, self._inflow):
            if own:
                fill_ghosts(g, side, kind, self._parity, inflow)

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
        """Start from the Maxwellian moments of ``(rho, u, T)`` on this block's cells.

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
        self.q[...] = self.closure.equilibrium(rho, u, T)
        self.t, self.steps, self.stages = 0.0, 0, 0
        self.boundary_loss[:] = 0.0
        self.initial_totals = self.totals()

    def totals(self) -> np.ndarray:
        """Global ``(mass, momentum, energy)`` integrals over x, ``(3,)``."""
        return self._allsum(self.q[:, :len(CONSERVED)].sum(0) * self.problem.dx)

    def conservation_errors(self) -> dict[str, float]:
        """Relative drift of mass, momentum and energy, fluxes through the ends accounted.

        Momentum drift is relative to ``sqrt(2 mass energy)`` (the momentum scale).
        """
        d = self.totals() + self._allsum(self.boundary_loss) - self.initial_totals
        m0, e0 = self.initial_totals[0], self.initial_totals[2]
        return {"mass": float(abs(d[0]) / abs(m0)),
                "momentum": float(abs(d[1]) / math.sqrt(2 * abs(m0 * e0))),
                "energy": float(abs(d[2]) / abs(e0))}

    def moments(self) -> dict[str, np.ndarray]:
        """``rho, u, T, q, P`` ``(n_local,)`` each: the kinetic solver's outputs (collective)."""
        g = self._ghosted(self.q)
        return self.closure.macroscopic(self.closure.primitive(g[GHOSTS - 1:-GHOSTS + 1]),
                                        self.problem.dx)

    # --- time step ------------------------------------------------------------------
    def cfl(self, warn: bool = True) -> float:
        """The CFL number (warns and clamps above the limiter's bound)."""
        limit = CFL_LIMIT[self.problem.limiter]
        cfl = self.options.cfl if self.options.cfl is not None else 0.9 * limit
        if cfl > limit:
            if warn:
                _log.warning("CFL %.3g exceeds the bound %.3g of limiter %s; using %.3g",
                             cfl, limit, self.problem.limiter, limit)
            cfl = limit
        return cfl

    def max_dt(self, warn: bool = True) -> float:
        """``cfl dx / max|speed|`` over all cells (collective); checks the state first.

        Raises
        ------
        MomentSolveError
            When a cell has a non-positive (or non-finite) density or temperature.
        """
        with np.errstate(all="ignore"):
            prim = self.closure.primitive(self.q)
            bad = ~((prim[:, 0] > 0) & (prim[:, 2] > 0) & np.isfinite(prim).all(1))
            lo, hi = self.closure.wave_speeds(self.q, prim)
            speed = float(np.max(np.maximum(np.abs(lo), np.abs(hi)), initial=0.0))
        speed, n_bad = self._allmax(np.array([speed if not bad.any() else 0.0, bad.sum()]))
        if n_bad:
            self._report_bad(prim, bad)
        return self.cfl(warn) * self.problem.dx / speed

    def _report_bad(self, prim: np.ndarray, bad: np.ndarray) -> None:
        """Raise :class:`MomentSolveError` naming the leftmost bad cell of all ranks."""
        found = None
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            rho, temp = prim[k, 0], prim[k, 2]
            what = ("non-finite moments (the solve blew up)" if not np.isfinite(prim[k]).all()
                    else f"non-positive density {rho:.4g}" if not rho > 0 else
                    f"non-positive temperature {temp:.4g}")
            found = (float(self.x[k]), self.offset + k, what)
        x, cell, what = min(f for f in self._allgather(found) if f is not None)
        raise MomentSolveError(
            f"{what} at x = {x:.6g} (cell {cell}) at t = {self.t:.6g} after {self.steps} "
            f"steps: the {self.problem.closure} closure at Kn = {self.problem.eps:g} left the "
            "physical states (try a smaller -moments_ts_cfl, the minmod limiter, or another "
            "closure)", self.t, x)

    def step(self, dt: float) -> None:
        """Advance by ``dt``: SSP-RK2 hyperbolic part, parabolic part, then the source.

        Floating-point warnings are silenced: a non-physical result is caught
        by the state check of :meth:`max_dt` before the next step or output.
        """
        with np.errstate(all="ignore"):
            self._step(dt)
        self.t += dt
        self.steps += 1

    def _step(self, dt: float) -> None:
        """The three parts of :meth:`step`."""
        q = self.q
        s1, s2 = self._stage[0], self._stage[1]
        out = self._hyperbolic(q, s1, dt)
        out += self._hyperbolic(s1, s2, dt)
        np.add(q, s2, out=q)
        q *= 0.5
        self.boundary_loss += 0.5 * dt * out
        if self.closure.viscous:
            self._parabolic(dt)
        self.closure.relax(q, dt, self.options.relax)

    def _outflow(self, flux: np.ndarray) -> np.ndarray:
        """Net flux ``(3,)`` of the conserved columns out through the physical ends owned here."""
        out = np.zeros(len(CONSERVED))
        if self.problem.periodic:
            return out
        if self.owns_right:
            out += flux[-1, :len(CONSERVED)]
        if self.owns_left:
            out -= flux[0, :len(CONSERVED)]
        return out

    def _hyperbolic(self, src: np.ndarray, dst: np.ndarray, dt: float) -> np.ndarray:
        """``dst = src - dt/dx (F_{i+1/2} - F_{i-1/2})``; returns :meth:`_outflow` of ``F``."""
        g = self._ghosted(src)
        flux = face_fluxes(self.closure, self.closure.primitive(g), self.problem.limiter,
                           self.options.flux)
        np.subtract(flux[1:], flux[:-1], out=dst)
        dst *= -dt / self.problem.dx
        dst += src
        return self._outflow(flux)

    def _viscous_rate(self, y: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
        """``L(y) = -(Fv_{i+1/2} - Fv_{i-1/2})/dx`` of the parabolic part and its outflow."""
        g = self._ghosted(y)
        prim = self.closure.primitive(g[GHOSTS - 1:-GHOSTS + 1])
        flux = self.closure.viscous_flux(prim[:-1], prim[1:], self.problem.dx, coefficients)
        return (flux[:-1] - flux[1:]) / self.problem.dx, self._outflow(flux)

    def viscous_stages(self, dt: float) -> tuple[int, np.ndarray | None]:
        """RKL2 stages a parabolic step of ``dt`` needs now, and the face coefficients.

        ``(0, None)`` for a closure without viscous terms (collective).
        """
        if not self.closure.viscous:
            return 0, None
        g = self._ghosted(self.q)
        prim = self.closure.primitive(g[GHOSTS - 1:-GHOSTS + 1])
        coefficients = self.closure.face_coefficients(prim[:-1], prim[1:])
        diff = self.closure.diffusivity(prim)
        d_max = float(self._allmax(np.array([diff.max(initial=0.0)]))[0])
        if not d_max > 0:
            return 0, coefficients
        explicit = VISCOUS_SAFETY * self.problem.dx ** 2 / (2.0 * d_max)
        return stages_for(dt / explicit), coefficients

    def _parabolic(self, dt: float) -> None:
        """RKL2 step of the viscous terms (coefficients of the step's start), enough stages."""
        s, coefficients = self.viscous_stages(dt)
        if s == 0:
            return
        if s > MAX_STAGES:
            raise MomentSolveError(
                f"the {self.problem.closure} closure at Kn = {self.problem.eps:g} needs {s} "
                f"viscous sub-stages per step at t = {self.t:.6g} (more than {MAX_STAGES}): "
                "the Navier-Stokes regime ends far below this Knudsen number; use another "
                "closure (grad) or fewer cells", self.t)
        self.stages += s
        self.boundary_loss += rkl2_step(self.q, dt, s,
                                        lambda y: self._viscous_rate(y, coefficients),
                                        tuple(self._stage))

    def run(self, t_end: float, n_outputs: int = 1,
            on_output: Callable[[MomentSolver], None] | None = None,
            progress: Callable[[MomentSolver], None] | None = None,
            monitor: bool = False) -> dict:
        """Step to ``t_end``, calling ``on_output`` at ``n_outputs + 1`` equally spaced times.

        ``progress`` is called after each output interval, ``monitor`` logs every step.

        Returns
        -------
        dict
            ``steps``, ``t``, ``wall_s`` (stepping only), ``cell_updates_per_s``,
            ``viscous_stages`` (RKL2 stages, all steps), ``conservation`` (relative
            drifts) and ``stopped`` (None, or why it stopped early).

        Raises
        ------
        MomentSolveError
            For a non-physical state (``on_output`` has been called at the
            output times before it).
        """
        times = np.linspace(self.t, t_end, n_outputs + 1)
        wall, stopped = 0.0, None
        if on_output:
            on_output(self)
        for t_next in times[1:]:
            start = time.perf_counter()
            while self.t < t_next * (1 - 1e-14) and stopped is None:
                if self.options.max_steps is not None and self.steps >= self.options.max_steps:
                    stopped = f"reached -moments_ts_max_steps {self.options.max_steps}"
                    break
                self.step(min(self.max_dt(warn=self.steps == 0), t_next - self.t))
                if monitor:
                    _log.info("step %d: t = %.6g", self.steps, self.t)
            if stopped is None:
                self.t = float(t_next)   # drop the round-off of the summed steps
            self.max_dt(warn=False)      # the state to be written is checked
            wall += time.perf_counter() - start
            if progress:
                progress(self)
            if on_output:
                on_output(self)
            if stopped:
                break
        return {"steps": self.steps, "t": self.t, "wall_s": wall,
                "cell_updates_per_s": self.steps * self.problem.nx / wall if wall > 0 else 0.0,
                "viscous_stages": self.stages, "conservation": self.conservation_errors(),
                "stopped": stopped}
