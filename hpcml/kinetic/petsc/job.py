"""One ``hpcml kinetic`` job: config section -> DMDA solver -> HDF5 moments.

The composition of the pieces, below the CLI: PETSc options, initial data
(:mod:`hpcml.kinetic.initial`), the velocity box check, the solver
(:class:`~hpcml.kinetic.petsc.solver.PetscKineticSolver`) and the moment
writer (:mod:`hpcml.io.hdf5.kinetic`).  Every rank calls :func:`run_kinetic`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hpcml.config.kinetic import KineticSection
from hpcml.errors import ConfigError, UserError
from hpcml.io.hdf5.kinetic import MomentWriter
from hpcml.kinetic import initial
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.petsc.options import kinetic_options, monitor_enabled, parse_words, time_options
from hpcml.kinetic.petsc.solver import PetscKineticSolver
from hpcml.kinetic.solver import KineticSolver, Problem, box_mass_loss
from hpcml.parallel import Context

_log = logging.getLogger(__name__)

#: largest tolerated Maxwellian mass fraction outside the velocity box before warning
BOX_LOSS_WARN = 1e-6


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
    h = 2 * vmax / cfg.velocity.n
    if h > np.sqrt(Ts.min()):
        _log.warning("kinetic.velocity.n = %d gives dv = %.3g, more than the thermal speed "
                     "sqrt(T) = %.3g of the coldest initial state: the velocity grid is too "
                     "coarse (raise n to at least %d)", cfg.velocity.n, h, np.sqrt(Ts.min()),
                     int(np.ceil(2 * vmax / np.sqrt(Ts.min()))))
    return vmax


def build_problem(cfg: KineticSection, vmax: float) -> Problem:
    """The solver's :class:`Problem` from the config section."""
    layout = CellLayout.make(cfg.velocity.mode, cfg.velocity.n, vmax)
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
                progress: Callable[[KineticSolver], None] | None = None) -> dict:
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

    Returns
    -------
    dict
        The solver's run summary plus ``ranks``, ``nx``, ``dof``, ``vmax`` and ``out``.

    Raises
    ------
    UserError
        Unknown PETSc options, non-positive initial density/temperature, a
        collision model that is not available, or a density that turns
        non-positive during the run.
    """
    values = {**cfg.petsc_options, **parse_words(petsc_words)}
    with kinetic_options(values):
        topts, monitor = time_options(), monitor_enabled()
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
    attrs = {"knudsen": cfg.knudsen, "collision": cfg.collision, "mode": cfg.velocity.mode,
             "nv": cfg.velocity.n, "vmax": vmax, "limiter": cfg.limiter, "nx": cfg.nx,
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
    summary.update(ranks=ctx.size, nx=cfg.nx, dof=problem.layout.dof, vmax=vmax,
                   out=str(Path(cfg.out)))
    return summary
