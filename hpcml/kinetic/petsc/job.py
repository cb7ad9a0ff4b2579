"""One ``hpcml kinetic`` job: config section -> DMDA solver -> HDF5 moments.

The composition of the pieces, below the CLI: PETSc options, initial data
(:mod:`hpcml.kinetic.initial`), the velocity box check, the solver
(:class:`~hpcml.kinetic.petsc.solver.PetscKineticSolver`) and the moment
writer (:mod:`hpcml.io.hdf5.kinetic`).  Every rank calls :func:`run_kinetic`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hpcml.config.kinetic import KineticSection
from hpcml.errors import ConfigError, UserError
from hpcml.io.hdf5.kinetic import MomentWriter
from hpcml.kinetic import initial
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.petsc.options import kinetic_options, monitor_enabled, parse_words, time_options
from hpcml.kinetic.petsc.solver import PetscKineticSolver
from hpcml.kinetic.resolution import TARGET, auto_points, density_error
from hpcml.kinetic.solver import KineticSolver, Problem, box_mass_loss
from hpcml.parallel import Context
from hpcml.parallel.memory import (
    KINETIC_GLOBAL_PER_CELL,
    Estimate,
    check_memory,
    kinetic_estimate,
    largest,
    smallest,
)

_log = logging.getLogger(__name__)

#: largest tolerated Maxwellian mass fraction outside the velocity box before warning
BOX_LOSS_WARN = 1e-6
#: the most time steps a solve may need without -kinetic_ts_max_steps (beyond: not a run)
MAX_STEPS = 10**9


def initial_state(cfg: KineticSection, x: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray, dict]:
    """``rho, u, T`` on the global cell centres ``x`` and the generator's metadata."""
    ini = cfg.initial
    if ini.type == "sod":
        return (*initial.sod(x, x0=ini.x0, left=ini.left, right=ini.right), {"type": "sod"})
    if ini.type == "riemann":
        return (*initial.riemann(x, ini.left, ini.right, x0=ini.x0), {"type": "riemann"})
    gen = initial.smooth_wave if ini.type == "smooth_wave" else initial.random_mixture
    rho, u, T, meta = gen(x, seed=ini.seed, domain=tuple(cfg.x), **ini.options)
    return rho, u, T, {"type": ini.type, **meta}


def _states(cfg: KineticSection, u: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Velocities and temperatures of the initial data and the inflow states."""
    extra = [s for s in (cfg.boundary.left_state, cfg.boundary.right_state) if s is not None]
    us = np.concatenate([u, [s[1] for s in extra]])
    Ts = np.concatenate([T, [s[2] / s[0] for s in extra]])
    return us, Ts


def velocity_points(cfg: KineticSection) -> int:
    """``kinetic.velocity.n``, or the one :func:`~hpcml.kinetic.resolution.auto_points` picks."""
    n = cfg.velocity.n
    return auto_points(cfg.knudsen, cfg.velocity.mode) if n is None else n


def check_velocity_resolution(cfg: KineticSection) -> None:
    """Warn when ``n`` (given, or capped in full mode) is too coarse for the Knudsen number.

    The expected density error is :func:`~hpcml.kinetic.resolution.density_error`
    (measured on Sod); the warning names the ``n`` that keeps it below 2e-3.
    """
    n = velocity_points(cfg)
    error = density_error(cfg.knudsen, n)
    if error <= TARGET:
        return
    need = auto_points(cfg.knudsen)
    if cfg.velocity.mode == "chu":
        note = " (leave n unset to choose it from the Knudsen number)"
    else:
        note = f" ({need}**3 values per cell in full mode" + (
            f"; for BGK, mode: chu is exact and needs 2 x {need})" if cfg.collision == "bgk"
            else ")")
    given = (f"kinetic.velocity.n = {n} is coarse" if cfg.velocity.n is not None else
             f"kinetic.velocity.n is not set and full mode caps the automatic choice at {n}, "
             "coarse")
    _log.warning("%s for Kn = %.3g: the density may be off by about %.2g (velocity-grid error "
                 "measured on Sod, docs/kinetic.md); n = %d keeps it below %g%s",
                 given, cfg.knudsen, error, need, TARGET, note)


def check_step_count(cfg: KineticSection, solver: KineticSolver,
                     names: Mapping[str, str] | None = None) -> None:
    """Stop when reaching ``t_end`` would take more than :data:`MAX_STEPS` time steps.

    Such a solve would not end (``--t-end 1e30``; past about 1e16 steps ``t + dt``
    no longer moves ``t``).  With ``-kinetic_ts_max_steps`` it runs that many steps.

    Raises
    ------
    ConfigError
        Naming ``t_end`` (the option that set it, from ``names``), the step count,
        the time step and the fix.
    """
    if solver.options.max_steps is not None:
        return
    dt = solver.max_dt(warn=False)
    steps = cfg.t_end / dt
    if steps > MAX_STEPS:
        name = (names or {}).get("t_end", "kinetic.t_end")
        raise ConfigError(f"{name} {cfg.t_end:g} needs about {steps:.2g} time steps of dt = "
                          f"{dt:.3g} (the CFL limit), more than {MAX_STEPS:.0e}: the solve "
                          f"would not end; lower {name}, or pass -kinetic_ts_max_steps N to "
                          "stop after N steps")


def memory_estimate(cfg: KineticSection, ranks: int, gathered: bool = False) -> Estimate:
    """Bytes one of ``ranks`` ranks will hold for ``cfg`` (:func:`kinetic_estimate`)."""
    layout_dof = {"chu": 2 * velocity_points(cfg), "full": velocity_points(cfg) ** 3}
    return kinetic_estimate(cfg.nx, layout_dof[cfg.velocity.mode], ranks, cfg.collision,
                            cfg.velocity.mode, gathered_snapshots=cfg.snapshots and gathered)


def check_memory_fits(ctx: Context, cfg: KineticSection,
                      names: Mapping[str, str] | None = None) -> None:
    """Stop (collectively, exit 2) when the solve would not fit in a rank's memory.

    ``names`` maps ``nx``/``nv`` to the option that set them (``--nx``) for
    the message; default the config keys.

    Raises
    ------
    MemoryLimitError
        With the estimate, the limit, the largest ``nx`` that fits on these
        ranks and the ranks that ``nx`` needs.
    """
    from hpcml.io.hdf5._h5 import has_mpio, load_h5py

    names = {"nx": "kinetic.nx", "nv": "kinetic.velocity.n", **(names or {})}
    gathered = ctx.size > 1 and cfg.snapshots and not (
        ctx.has_mpi and has_mpio(load_h5py(prefer_mpi=True)))
    n = velocity_points(cfg)
    dof = 2 * n if cfg.velocity.mode == "chu" else n**3
    nv = f"{names['nv']} {n}" if cfg.velocity.n is not None else f"nv {n} (from Kn {cfg.knudsen:g})"

    def estimate(nx: int, ranks: int) -> Estimate:
        return memory_estimate(cfg.model_copy(update={"nx": nx}), ranks, gathered)

    def fix(limit: float) -> str:
        def fits_nx(m: int) -> bool:
            return estimate(m, ctx.size).total <= limit

        def fits_ranks(r: int) -> bool:
            return estimate(cfg.nx, r).total <= limit

        most, need = largest(fits_nx, cfg.nx), smallest(fits_ranks)
        ways = [f"lower {names['nx']} to {most} cells or fewer"] if most else []
        if need is not None:
            ways.append(f"run {need} ranks or more with this much memory each (more nodes; each "
                        "rank holds nx/ranks cells)")
        ways.append(f"lower {names['nv']} ({dof} values per cell)")
        text = ", or ".join(ways)
        if need is None:
            text += ("; more ranks do not help: every rank holds "
                     f"{KINETIC_GLOBAL_PER_CELL} values for each of the {cfg.nx} cells")
        return text

    check_memory(ctx, estimate(cfg.nx, ctx.size),
                 f"hpcml kinetic: {names['nx']} {cfg.nx} with {nv} ({cfg.velocity.mode} mode, "
                 f"{dof} values per cell) on {ctx.size} rank(s)", fix)


def velocity_box(cfg: KineticSection, u: np.ndarray, T: np.ndarray) -> float:
    """``vmax`` (given, or ``max|u| + 6.5 sqrt(max T)``); warns when the box cuts Maxwellians."""
    us, Ts = _states(cfg, u, T)
    vmax = cfg.velocity.vmax or float(np.abs(us).max() + 6.5 * np.sqrt(Ts.max()))
    dim = 3 if cfg.velocity.mode == "full" else 1
    loss = box_mass_loss(us, Ts, vmax, dim)
    if loss > BOX_LOSS_WARN:
        need = float(np.abs(us).max() + 6.0 * np.sqrt(Ts.max()))
        _log.warning("kinetic.velocity.vmax = %.4g is too small for the initial temperature "
                     "(max T = %.4g): up to %.3g of a cell's Maxwellian mass lies outside the "
                     "velocity box (the discrete Maxwellian renormalizes it); raise vmax to "
                     "at least %.3g", vmax, Ts.max(), loss, need)
    n = velocity_points(cfg)
    h = 2 * vmax / n
    if h > np.sqrt(Ts.min()):
        _log.warning("kinetic.velocity.n = %d gives dv = %.3g, more than the thermal speed "
                     "sqrt(T) = %.3g of the coldest initial state: the velocity grid is too "
                     "coarse (raise n to at least %d)", n, h, np.sqrt(Ts.min()),
                     int(np.ceil(2 * vmax / np.sqrt(Ts.min()))))
    return vmax


def build_problem(cfg: KineticSection, vmax: float) -> Problem:
    """The solver's :class:`Problem` from the config section."""
    layout = CellLayout.make(cfg.velocity.mode, velocity_points(cfg), vmax)
    b = cfg.boundary
    inflow = tuple(None if s is None else (s[0], s[1], s[2] / s[0])
                   for s in (b.left_state, b.right_state))
    options = {"n_angles": cfg.n_angles} if cfg.collision == "boltzmann" else {}
    return Problem(layout, cfg.nx, xmin=cfg.x[0], xmax=cfg.x[1], eps=cfg.knudsen,
                   collision=cfg.collision, limiter=cfg.limiter, boundary=(b.left, b.right),
                   inflow=inflow, collision_options=options)


def partial_path(out: str | os.PathLike) -> Path:
    """Where the moments are written while the solve runs: ``OUT.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def run_kinetic(ctx: Context, cfg: KineticSection, petsc_words: Sequence[str] = (),
                source: str = "config",
                progress: Callable[[KineticSolver], None] | None = None,
                names: Mapping[str, str] | None = None) -> dict:
    """Solve the kinetic problem of ``cfg`` on ``ctx``; the moments go to ``cfg.out``.

    They are written to :func:`partial_path` and renamed to ``cfg.out`` when the
    solve ends, so a killed run never leaves a truncated ``cfg.out``.

    Parameters
    ----------
    ctx
        The job's Context (collective).
    cfg
        The ``kinetic`` config section (after command-line overrides).
    petsc_words
        Command-line PETSc options (``-kinetic_ts_cfl 0.4`` ...); they
        override ``cfg.petsc_options``.
    source
        Name of the config file, for error messages.
    progress
        Called on every rank after each output time.
    names
        The options that set ``nx`` and ``nv`` (``{"nx": "--nx"}``), for the
        memory check's message; default the config keys.

    Returns
    -------
    dict
        The solver's run summary plus ``ranks``, ``nx``, ``nv``, ``dof``, ``vmax`` and ``out``.

    Raises
    ------
    MemoryLimitError
        When the solve would not fit in a rank's memory (before allocating).
    UserError
        Unknown PETSc options, non-positive initial density/temperature, a
        collision model that is not available, or a density that turns
        non-positive during the run.
    """
    values = {**cfg.petsc_options, **parse_words(petsc_words)}
    with kinetic_options(values):
        topts, monitor = time_options(), monitor_enabled()
    check_memory_fits(ctx, cfg, names)
    check_velocity_resolution(cfg)
    x = np.linspace(cfg.x[0], cfg.x[1], cfg.nx + 1)
    x = 0.5 * (x[1:] + x[:-1])
    try:
        rho, u, T, meta = initial_state(cfg, x)
    except UserError as exc:
        raise ConfigError(f"{source}: kinetic.initial: {exc}") from None
    vmax = velocity_box(cfg, u, T)
    try:
        problem = build_problem(cfg, vmax)
        solver = PetscKineticSolver(problem, topts, ctx)
        sl = slice(solver.offset, solver.offset + solver.n_local)
        solver.set_state(rho[sl], u[sl], T[sl])
    except ValueError as exc:
        raise ConfigError(f"{source}: kinetic: {exc}") from None
    try:
        check_step_count(cfg, solver, names)
    except UserError:
        solver.destroy()
        raise
    attrs = {"knudsen": cfg.knudsen, "collision": cfg.collision, "mode": cfg.velocity.mode,
             "nv": problem.layout.grid.n, "vmax": vmax, "limiter": cfg.limiter, "nx": cfg.nx,
             "x_interval": list(cfg.x), "boundary": [cfg.boundary.left, cfg.boundary.right],
             "initial": meta, "ranks": ctx.size}
    partial = partial_path(cfg.out)    # renamed to cfg.out when the solve ends
    writer = MomentWriter(partial, ctx, solver.x, solver.offset, cfg.nx, attrs,
                          dof=solver.layout.dof if cfg.snapshots else None)

    def output(s: KineticSolver) -> None:
        m = s.moments()
        bad = int(ctx.comm.allreduce(int((~(m["rho"] > 0)).sum())))
        if bad:
            raise UserError(f"{bad} cell(s) with non-positive density at t = {s.t:.6g}: "
                            "lower -kinetic_ts_cfl or refine the velocity grid")
        writer.write(s.t, m, s.f if cfg.snapshots else None)

    try:
        summary = solver.run(cfg.t_end, cfg.outputs, on_output=output, progress=progress,
                             monitor=monitor)
    finally:
        writer.close()
        solver.destroy()
    if ctx.is_root:
        os.replace(partial, cfg.out)
    ctx.comm.barrier()
    if summary["stopped"]:
        _log.warning("stopped early at t = %.6g: %s", summary["t"], summary["stopped"])
    summary.update(ranks=ctx.size, nx=cfg.nx, nv=problem.layout.grid.n, dof=problem.layout.dof,
                   vmax=vmax, out=str(Path(cfg.out)))
    return summary
