"""The ML moment method: ``hpcml moments solve|train|run``.

``hpcml moments solve CONFIG`` solves the moment system of the ``moments``
section (``dt U + dx F = 0``, ``dt W + dx G = R/eps``) with a classical closure
(``--closure euler|ns|grad``) on a PETSc DMDA, and writes ``rho, u, T, q, P``
with ``x`` and ``t`` at each output time to one HDF5 file in the layout of
``hpcml kinetic``.  Algorithm knobs are PETSc options after CONFIG:
``-moments_ts_cfl 0.4``, ``-moments_flux rusanov|hll``,
``-moments_ts_relax implicit|exponential``, ``-moments_ts_max_steps N``,
``-moments_ts_monitor``; unknown ``-moments_*`` options are errors.  An
existing output file is refused unless ``--force``; the moments go to
``OUT.partial`` and are renamed to ``OUT`` at the end.  A solve that reaches a
non-positive density or temperature stops naming the place and the time, and
keeps what it wrote in ``OUT.partial``.

``train`` (the autoencoder and learned closure) and ``run`` (the kinetic
concurrent-learning loop) are not built yet (issue 17).
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import add_config_argument, count, pathname

#: actions not built yet -> what they will do
PENDING_ACTIONS = {"train": "train the learned moments and closure",
                   "run": "the kinetic concurrent-learning loop"}
#: the issue that builds them
ISSUE = 17
CLOSURES = ("euler", "ns", "grad")


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The overrides of the config (also re-parsed from the words after CONFIG)."""
    parser.add_argument("--closure", choices=CLOSURES, default=None,
                        help="the closure (moments.closure)")
    parser.add_argument("--knudsen", type=float, default=None, metavar="EPS",
                        help="Knudsen number (moments.knudsen)")
    parser.add_argument("--nx", type=count, default=None, metavar="N",
                        help="cells in x (moments.nx)")
    parser.add_argument("--t-end", type=float, default=None, metavar="T",
                        help="final time (moments.t_end)")
    parser.add_argument("--out", type=pathname, default=None, metavar="FILE",
                        help="HDF5 file of the moments (moments.out)")
    parser.add_argument("--json", action="store_true",
                        help="end stdout with one JSON line: wall_s, steps, conservation "
                        "(relative drift of mass, momentum, energy), ...")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``solve`` (CONFIG, overrides, PETSc options) and the pending actions."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    solve = sub.add_parser("solve", help="solve the moment system with a classical closure",
                           description=__doc__.split("\n\n")[1])
    add_config_argument(solve)
    _add_options(solve)
    solve.add_argument("petsc", nargs=argparse.REMAINDER, metavar="-moments_OPTION",
                       help="PETSc options after CONFIG (-moments_ts_cfl 0.4 ...)")
    for name, what in PENDING_ACTIONS.items():
        cmd = sub.add_parser(name, help=f"{what} [not built yet: issue {ISSUE}]")
        cmd.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        cmd.set_defaults(not_built=True)


def _split(args: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """Separate the overrides that argparse left among the PETSc words."""
    sub = argparse.ArgumentParser(prog="hpcml moments solve", add_help=False,
                                  allow_abbrev=False)
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
        "--closure": (("moments", "closure"), args.closure),
        "--knudsen": (("moments", "knudsen"), args.knudsen),
        "--nx": (("moments", "nx"), args.nx),
        "--t-end": (("moments", "t_end"), args.t_end),
        "--out": (("moments", "out"), args.out)})


def run(args: argparse.Namespace) -> int:
    """Run the chosen action."""
    if args.action in PENDING_ACTIONS:
        from hpcml.errors import NotBuiltError

        raise NotBuiltError(f"`hpcml moments {args.action}` ({PENDING_ACTIONS[args.action]}) "
                            f"is not built yet; it is tracked in issue {ISSUE}. Nothing was "
                            "run.")
    return _solve(args)


def _solve(args: argparse.Namespace) -> int:
    """``hpcml moments solve``: the solve, its progress lines and its summary."""
    from hpcml.cli.common import parallel_job
    from hpcml.cli.outputs import check_output_file
    from hpcml.config import load_config

    args, petsc = _split(args)
    config = _overrides(load_config(args.config), args)
    cfg = config.moments
    check_output_file(cfg.out, "--out" if args.out is not None else "moments.out",
                      args.force, "hpcml moments solve")
    with parallel_job(args, config) as ctx:
        from hpcml.moments.petsc.job import run_moments

        def progress(s) -> None:  # noqa: ANN001
            drift = max(s.conservation_errors().values())   # collective
            if ctx.is_root:
                print(f"hpcml moments: t = {s.t:.6g} / {cfg.t_end:g}, {s.steps} steps, "
                      f"max conservation drift {drift:.2e}", flush=True)

        names = {key: f"--{key.replace('_', '-')}" for key in ("nx", "t_end", "knudsen")
                 if getattr(args, key) is not None}
        summary = run_moments(ctx, cfg, petsc, source=str(args.config), progress=progress,
                              names=names)
        if ctx.is_root:
            _report(summary, args.json)
    return 0


def _report(summary: dict, as_json: bool) -> None:
    """The summary line, and the JSON line with ``--json``."""
    c = summary["conservation"]
    print(f"hpcml moments: {summary['closure']} eps={summary['knudsen']:g} nx={summary['nx']} "
          f"({summary['flux']}, CFL {summary['cfl']:g}) on {summary['ranks']} rank(s): "
          f"{summary['steps']} steps to t = {summary['t']:.6g} in {summary['wall_s']:.2f} s"
          + (f" ({summary['viscous_stages']} viscous stages)" if summary["viscous_stages"]
             else "")
          + f"; drift mass {c['mass']:.1e} momentum {c['momentum']:.1e} energy "
          f"{c['energy']:.1e}; moments in {summary['out']}")
    if as_json:
        keys = ("closure", "knudsen", "wall_s", "steps", "t", "viscous_stages",
                "cell_updates_per_s", "conservation", "ranks", "nx", "flux", "cfl", "out",
                "stopped")
        print(json.dumps({k: summary[k] for k in keys}))
