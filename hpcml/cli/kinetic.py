"""Kinetic solve of ``df/dt + v_x df/dx = Q(f)/eps`` on a PETSc DMDA (``hpcml kinetic CONFIG``).

Reads the ``kinetic`` section (BGK or Boltzmann, Knudsen number, grids,
boundaries, initial data), distributes x over the ranks, and writes the
moments ``rho, u, T, q, P`` with ``x`` and ``t`` at each output time to one
HDF5 file (written by all ranks).  Algorithm knobs are PETSc options after
CONFIG: ``-kinetic_ts_cfl 0.4``, ``-kinetic_ts_max_steps N``,
``-kinetic_ts_relax implicit|exponential``, ``-kinetic_ts_monitor``,
``-kinetic_kernels auto|native|numpy`` (the fused C kernels or numpy's);
unknown ``-kinetic_*`` options are errors.  ``--json`` reports which kernels ran.
An existing output file is refused (a solve does not resume) unless ``--force``;
the moments are written to ``OUT.partial`` and renamed to ``OUT`` at the end.
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import add_config_argument, count, pathname


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The overrides of the config (also re-parsed from the words after CONFIG)."""
    parser.add_argument("--knudsen", type=float, default=None, metavar="EPS",
                        help="Knudsen number (kinetic.knudsen)")
    parser.add_argument("--nx", type=count, default=None, metavar="N",
                        help="cells in x (kinetic.nx)")
    parser.add_argument("--nv", type=count, default=None, metavar="N",
                        help="velocity points per direction (kinetic.velocity.n; default "
                        "from the Knudsen number)")
    parser.add_argument("--t-end", type=float, default=None, metavar="T",
                        help="final time (kinetic.t_end)")
    parser.add_argument("--out", type=pathname, default=None, metavar="FILE",
                        help="HDF5 file of the moments (kinetic.out)")
    parser.add_argument("--json", action="store_true",
                        help="end stdout with one JSON line: cell_velocity_updates_per_s, "
                        "conservation errors (relative drift of mass, momentum, energy), ...")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register CONFIG, the overrides and the trailing PETSc options."""
    add_config_argument(parser)
    _add_options(parser)
    parser.add_argument("petsc", nargs=argparse.REMAINDER, metavar="-kinetic_OPTION",
                        help="PETSc options after CONFIG (-kinetic_ts_cfl 0.4 ...)")


def _split(args: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """Separate the overrides that argparse left among the PETSc words."""
    sub = argparse.ArgumentParser(prog="hpcml kinetic", add_help=False, allow_abbrev=False)
    _add_options(sub)
    more, petsc = sub.parse_known_args(args.petsc)
    for key, value in vars(more).items():
        if value is not None and value is not False:   # 0 and 0.0 are given values
            setattr(args, key, value)
    return args, petsc


def _overrides(config, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The config with the command-line overrides applied (validated as the file is)."""
    from hpcml.cli.overrides import apply_overrides

    return apply_overrides(config, str(args.config), {
        "--knudsen": (("kinetic", "knudsen"), args.knudsen),
        "--nx": (("kinetic", "nx"), args.nx),
        "--nv": (("kinetic", "velocity", "n"), args.nv),
        "--t-end": (("kinetic", "t_end"), args.t_end),
        "--out": (("kinetic", "out"), args.out)})


def run(args: argparse.Namespace) -> int:
    """Run the kinetic solve and report its speed and conservation."""
    from hpcml.cli.common import parallel_job
    from hpcml.cli.outputs import check_output_file
    from hpcml.config import load_config

    args, petsc = _split(args)
    config = _overrides(load_config(args.config), args)
    cfg = config.kinetic
    check_output_file(cfg.out, "--out" if args.out is not None else "kinetic.out",
                      args.force, "hpcml kinetic")
    with parallel_job(args, config) as ctx:
        from hpcml.kinetic.petsc.job import run_kinetic

        def progress(s) -> None:  # noqa: ANN001
            drift = max(s.conservation_errors().values())   # collective
            if ctx.is_root:
                print(f"hpcml kinetic: t = {s.t:.6g} / {cfg.t_end:g}, {s.steps} steps, "
                      f"max conservation drift {drift:.2e}", flush=True)

        names = {key: f"--{key.replace('_', '-')}" for key in ("nx", "nv", "t_end")
                 if getattr(args, key) is not None}
        summary = run_kinetic(ctx, cfg, petsc, source=str(args.config), progress=progress,
                              names=names)
        if ctx.is_root:
            c = summary["conservation"]
            print(f"hpcml kinetic: {cfg.collision} eps={cfg.knudsen:g} nx={cfg.nx} "
                  f"{cfg.velocity.mode} nv={summary['nv']} (dof {summary['dof']}) on "
                  f"{summary['ranks']} rank(s): {summary['steps']} steps to t = "
                  f"{summary['t']:.6g} in {summary['wall_s']:.2f} s, "
                  f"{summary['cell_velocity_updates_per_s']:.3g} cell-velocity updates/s; "
                  f"drift mass {c['mass']:.1e} momentum {c['momentum']:.1e} energy "
                  f"{c['energy']:.1e}; kernels: transport {summary['kernels']['transport']}, "
                  f"collision {summary['kernels']['collision']}; moments in {summary['out']}")
            if args.json:
                keys = ("cell_velocity_updates_per_s", "conservation", "steps", "t", "wall_s",
                        "ranks", "nx", "nv", "dof", "vmax", "out", "stopped", "kernels")
                print(json.dumps({k: summary[k] for k in keys}))
    return 0
