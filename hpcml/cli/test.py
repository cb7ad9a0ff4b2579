"""Energy, force (and virial) errors of a trained model on labeled data, as ``dp test``.

``hpcml test MODEL SYSTEM...`` evaluates the ensemble (or single-model) file
on each system (deepmd/npy directory, HDF5 frame store, extxyz file) and
prints a table: per system and overall for the committee-mean prediction,
then one overall row per member; energy MAE/RMSE in meV/atom, force MAE/RMSE
in eV/A (virial MAE/RMSE in meV/atom when the data has virials).
``--member K`` tests member K alone.  ``--detail PREFIX`` writes DeePMD-kit's
``dp test -d`` files (``PREFIX.e.out``, ``.e_peratom.out``, ``.f.out``,
``.v.out``; see :mod:`hpcml.io.dptest`).  ``--json`` ends the output with
one JSON line: the overall figures, ``frames``, ``systems`` and ``members``.
Under ``mpirun`` rank 0 does the work and prints once.
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register MODEL, SYSTEM... and the options."""
    parser.add_argument("model", type=pathname, help="ensemble.pt or model file from hpcml train")
    parser.add_argument("systems", nargs="+", type=pathname, metavar="SYSTEM",
                        help="labeled data: deepmd/npy dirs, HDF5 frame files, extxyz")
    parser.add_argument("--format", default="auto", help="data format (default: detect)")
    parser.add_argument("--member", type=int, default=None, metavar="K",
                        help="test ensemble member K alone (default: the committee mean)")
    parser.add_argument("--detail", type=pathname, default=None, metavar="PREFIX",
                        help="write dp-test detail files PREFIX.e.out, .e_peratom.out, .f.out "
                             "(and .v.out with virials)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the figures as the last line")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table (under mpirun rank 0 does the work and prints)."""
    from hpcml.cli.common import plain_context
    from hpcml.errors import ConfigError
    from hpcml.io.formats import READERS
    from hpcml.parallel import abort_on_error

    if args.format not in ("auto", *READERS):
        raise ConfigError(f"--format {args.format}: not a data format; choose one of auto, "
                          f"{', '.join(READERS)}")

    ctx = plain_context()
    with abort_on_error(ctx):
        result = ctx.comm.bcast(_evaluate(args) if ctx.is_root else None, root=0)
    if ctx.is_root:
        _print_table(args, result)
    return 0


def _evaluate(args: argparse.Namespace):  # noqa: ANN202 (TestResult)
    """Rank 0: the rows, and the detail files when asked."""
    from hpcml.io.dptest import write_detail
    from hpcml.molecular.committee import Committee
    from hpcml.train.evaluate import evaluate_systems

    result = evaluate_systems(Committee.load(args.model), args.systems, args.format,
                              args.member)
    if args.detail:
        result.detail_files = [str(p) for p in write_detail(args.detail, result.predictions)]
    result.predictions = []             # not needed by the other ranks
    return result


def _print_table(args: argparse.Namespace, result) -> None:  # noqa: ANN001
    """The table on stdout (and the JSON line with ``--json``)."""
    rows = [*result.systems, result.overall, *result.members]
    virial = "virial_rmse_per_atom_meV" in result.overall
    width = max(len(str(r["system"])) for r in rows)
    head = (f"{'system':<{width}}  frames  E mae (meV/atom)  E rmse (meV/atom)  "
            "F mae (eV/A)  F rmse (eV/A)")
    print(head + ("  V mae (meV/atom)  V rmse (meV/atom)" if virial else ""))
    for k, r in enumerate(rows):
        if k == len(result.systems) + 1:
            who = f"member {args.member}" if args.member is not None else "members"
            print(f"# {who} (all systems):")
        line = (f"{str(r['system']):<{width}}  {r['frames']:6d}  "
                f"{r['energy_mae_per_atom_meV']:16.3f}  {r['energy_rmse_per_atom_meV']:17.3f}  "
                f"{r['force_mae_eV_per_A']:12.4f}  {r['force_rmse_eV_per_A']:13.4f}")
        if virial:
            line += (f"  {r.get('virial_mae_per_atom_meV', float('nan')):16.3f}"
                     f"  {r.get('virial_rmse_per_atom_meV', float('nan')):17.3f}")
        print(line)
    for path in result.detail_files:
        print(f"hpcml test: wrote {path}")
    if args.json:
        figures = {k: v for k, v in result.overall.items() if k != "system"}
        print(json.dumps({**figures, "member": args.member, "systems": result.systems,
                          "members": result.members}))
