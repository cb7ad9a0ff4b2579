"""One ``hpcml moments solve`` job: config section -> DMDA moment solver -> HDF5 moments.

The composition below the CLI, as :mod:`hpcml.kinetic.petsc.job` is for the
kinetic solver: PETSc options, the memory check, initial data (the kinetic
job's :func:`~hpcml.kinetic.petsc.job.initial_state`), the solver
(:class:`~hpcml.moments.petsc.solver.PetscMomentSolver`) and the moment writer
of ``hpcml kinetic`` (:class:`~hpcml.io.hdf5.kinetic.MomentWriter`), so both
solvers' files have one layout.  Every rank calls :func:`run_moments`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hpcml.config.moments import MomentsSection
from hpcml.errors import ConfigError, UserError
from hpcml.io.hdf5.kinetic import MomentWriter
from hpcml.kinetic.petsc.job import MAX_STEPS, initial_state, partial_path
from hpcml.moments.closure import make_closure
from hpcml.moments.petsc.options import moment_options, monitor_enabled, parse_words, time_options
from hpcml.moments.petsc.solver import PetscMomentSolver
from hpcml.moments.solver import (
    MAX_STAGES,
    MomentProblem,
    MomentSolveError,
    MomentSolver,
    TimeOptions,
)
from hpcml.parallel import Context
from hpcml.parallel.memory import Estimate, check_memory, largest, smallest

_log = logging.getLogger(__name__)

#: float64 values per cell of the whole grid held by every rank (cell edges and centres,
#: the initial rho, u, T and the generators' temporaries, as the kinetic job's)
GLOBAL_PER_CELL = 18
#: float64 values per local cell and state column at the peak of a step: the state, the
#: stages, the ghosted copy and the flux computation's temporaries (reconstruction, face
#: states, fluxes); traced: 9 (Euler), 10 (NS), 10.6 (Grad)
LOCAL_PER_CELL = 12


def memory_estimate(nx: int, n_vars: int, ranks: int) -> Estimate:
    """Bytes one of ``ranks`` ranks holds for ``nx`` cells of ``n_vars`` moments."""
    n_local = -(-int(nx) // max(int(ranks), 1))
    return Estimate({"state, stages and flux temporaries": LOCAL_PER_CELL * n_local * n_vars * 8,
                     "per-cell arrays of all nx cells on every rank": GLOBAL_PER_CELL * nx * 8})


def check_memory_fits(ctx: Context, cfg: MomentsSection, n_vars: int,
                      names: Mapping[str, str] | None = None) -> None:
    """Stop (collectively, exit 2) when the solve would not fit in a rank's memory.

    Raises
    ------
    MemoryLimitError
        With the estimate, the limit and the largest ``nx`` that fits.
    """
    name = (names or {}).get("nx", "moments.nx")

    def fix(limit: float) -> str:
        most = largest(lambda m: memory_estimate(m, n_vars, ctx.size).total <= limit, cfg.nx)
        ranks = smallest(lambda r: memory_estimate(cfg.nx, n_vars, r).total <= limit)
        if ranks is not None:
            return (f"lower {name} to {most} cells or fewer, or run {ranks} ranks or more "
                    "with this much memory each")
        return (f"lower {name} to {most} cells or fewer (more ranks do not help: every rank "
                f"holds {GLOBAL_PER_CELL} values for each of the nx cells)")

    check_memory(ctx, memory_estimate(cfg.nx, n_vars, ctx.size),
                 f"hpcml moments solve: {name} {cfg.nx} ({cfg.closure}, {n_vars} moments per "
                 f"cell) on {ctx.size} rank(s)", fix)


def build_problem(cfg: MomentsSection) -> MomentProblem:
    """The solver's :class:`MomentProblem` from the config section."""
    b = cfg.boundary
    inflow = tuple(None if s is None else (s[0], s[1], s[2] / s[0])
                   for s in (b.left_state, b.right_state))
    return MomentProblem(cfg.closure, cfg.nx, xmin=cfg.x[0], xmax=cfg.x[1], eps=cfg.knudsen,
                         limiter=cfg.limiter, boundary=(b.left, b.right), inflow=inflow)


def check_step_count(cfg: MomentsSection, solver: MomentSolver,
                     names: Mapping[str, str] | None = None) -> None:
    """Stop when ``t_end`` would take more than the kinetic job's ``MAX_STEPS`` steps.

    Estimated from the first step (wave speeds of the initial data); with
    ``-moments_ts_max_steps`` the solve runs that many steps instead.

    Raises
    ------
    ConfigError
        Naming ``t_end`` (the option that set it), the step count and the fix.
    """
    if solver.options.max_steps is not None:
        return
    dt = solver.max_dt(warn=False)
    if cfg.t_end / dt > MAX_STEPS:
        name = (names or {}).get("t_end", "moments.t_end")
        raise ConfigError(f"{name} {cfg.t_end:g} needs about {cfg.t_end / dt:.2g} time steps "
                          f"of dt = {dt:.3g} (the CFL limit), more than {MAX_STEPS:.0e}: the "
                          f"solve would not end; lower {name}, or pass -moments_ts_max_steps N "
                          "to stop after N steps")


def check_viscous_stages(cfg: MomentsSection, solver: MomentSolver,
                         names: Mapping[str, str] | None = None) -> None:
    """Stop when the first step's viscous part would need more than ``MAX_STAGES`` stages.

    Raises
    ------
    ConfigError
        Naming the Knudsen number (the option that set it) and the closures to use.
    """
    s, _ = solver.viscous_stages(solver.max_dt(warn=False))
    if s > MAX_STAGES:
        name = (names or {}).get("knudsen", "moments.knudsen")
        raise ConfigError(f"{name} {cfg.knudsen:g} with closure {cfg.closure} on {cfg.nx} cells "
                          f"needs {s} viscous sub-stages per time step (at most {MAX_STAGES}): "
                          "the Navier-Stokes regime ends far below this Knudsen number; use "
                          "closure grad (or euler), or fewer cells")


def _start(ctx: Context, cfg: MomentsSection, source: str,
           names: Mapping[str, str] | None,
           options: TimeOptions) -> tuple[PetscMomentSolver, dict]:
    """The solver at the initial data and the generator's metadata (collective)."""
    x = np.linspace(cfg.x[0], cfg.x[1], cfg.nx + 1)
    x = 0.5 * (x[1:] + x[:-1])
    try:
        rho, u, T, meta = initial_state(cfg, x)
    except UserError as exc:
        raise ConfigError(f"{source}: moments.initial: {exc}") from None
    try:
        solver = PetscMomentSolver(build_problem(cfg), options, ctx)
    except ValueError as exc:
        raise ConfigError(f"{source}: moments: {exc}") from None
    sl = slice(solver.offset, solver.offset + solver.n_local)
    solver.set_state(rho[sl], u[sl], T[sl])
    try:
        check_step_count(cfg, solver, names)
        check_viscous_stages(cfg, solver, names)
    except UserError:
        solver.destroy()
        raise
    return solver, meta


def run_moments(ctx: Context, cfg: MomentsSection, petsc_words: Sequence[str] = (),
                source: str = "config",
                progress: Callable[[MomentSolver], None] | None = None,
                names: Mapping[str, str] | None = None) -> dict:
    """Solve the moment system of ``cfg`` on ``ctx``; the moments go to ``cfg.out``.

    Written to ``OUT.partial`` and renamed to ``cfg.out`` when the solve ends.
    A solve that reaches a non-physical state stops with its place and time;
    the moments written up to then stay in ``OUT.partial``.

    Parameters
    ----------
    ctx
        The job's Context (collective).
    cfg
        The ``moments`` config section (after command-line overrides).
    petsc_words
        Command-line ``-moments_*`` options; they override ``cfg.petsc_options``.
    source
        Name of the config file, for error messages.
    progress
        Called on every rank after each output time.
    names
        The options that set ``nx`` and ``t_end`` (``{"nx": "--nx"}``) for messages.

    Returns
    -------
    dict
        The solver's run summary plus ``ranks``, ``nx``, ``closure``, ``knudsen``,
        ``flux``, ``cfl`` and ``out``.

    Raises
    ------
    UserError
        Unknown options, a problem too large for memory, bad initial data, or
        a solve that left the physical states (:class:`MomentSolveError`).
    """
    values = {**cfg.petsc_options, **parse_words(petsc_words)}
    with moment_options(values):
        options, monitor = time_options(), monitor_enabled()
    check_memory_fits(ctx, cfg, make_closure(cfg.closure, cfg.knudsen).n_vars, names)
    solver, meta = _start(ctx, cfg, source, names, options)
    attrs = {"solver": "moments", "closure": cfg.closure, "knudsen": cfg.knudsen,
             "collision": "bgk", "limiter": cfg.limiter, "flux": options.flux,
             "cfl": solver.cfl(warn=False), "nx": cfg.nx, "x_interval": list(cfg.x),
             "boundary": [cfg.boundary.left, cfg.boundary.right],
             "initial": meta, "ranks": ctx.size}
    partial = partial_path(cfg.out)
    writer = MomentWriter(partial, ctx, solver.x, solver.offset, cfg.nx, attrs)
    written: list[float] = []

    def output(s: MomentSolver) -> None:
        writer.write(s.t, s.moments())
        written.append(s.t)

    try:
        summary = solver.run(cfg.t_end, cfg.outputs, on_output=output, progress=progress,
                             monitor=monitor)
    except MomentSolveError as exc:
        kept = (f"the moments at t = {written[-1]:.6g} and before are kept in {partial}"
                if written else "nothing was written")
        raise MomentSolveError(f"{exc}; {kept}", exc.t, exc.x) from None
    finally:
        writer.close()
        solver.destroy()
    if ctx.is_root:
        os.replace(partial, cfg.out)
    ctx.comm.barrier()
    if summary["stopped"]:
        _log.warning("stopped early at t = %.6g: %s", summary["t"], summary["stopped"])
    summary.update(ranks=ctx.size, nx=cfg.nx, closure=cfg.closure, knudsen=cfg.knudsen,
                   flux=options.flux, cfl=attrs["cfl"], out=str(Path(cfg.out)))
    return summary
