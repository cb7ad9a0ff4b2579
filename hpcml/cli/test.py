"""Energy and force errors of a trained model on labeled data.

``hpcml test MODEL SYSTEM...`` evaluates every member of the ensemble file
(or the single model) on each system (deepmd/npy directory, HDF5 frame
store or extxyz file) and prints the energy RMSE per atom (meV/atom) and the
force RMSE (eV/A) of the committee mean, per system and overall.  With
``--json`` the last line is one JSON object with ``energy_rmse_per_atom_meV``,
``force_rmse_eV_per_A`` and ``frames``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register MODEL, SYSTEM... and the options."""
    parser.add_argument("model", type=Path, help="ensemble.pt or model file from hpcml train")
    parser.add_argument("systems", nargs="+", type=Path, metavar="SYSTEM",
                        help="labeled data: deepmd/npy dirs, HDF5 frame files, extxyz")
    parser.add_argument("--format", default="auto", help="data format (default: detect)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the overall figures as the last line")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table (serial; under mpirun rank 0 does the work)."""
    from hpcml.parallel import Context, abort_on_error

    ctx = Context.create()
    with abort_on_error(ctx):
        rows_total = ctx.comm.bcast(_evaluate(args) if ctx.is_root else None, root=0)
    if ctx.is_root:
        _print_table(args, *rows_total)
    return 0


def _evaluate(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Rank 0: the per-system rows and the overall row."""
    from hpcml.train.evaluate import test_model

    return test_model(args.model, args.systems, args.format)


def _print_table(args: argparse.Namespace, rows: list[dict], total: dict) -> None:
    """The table on stdout (and the JSON line with ``--json``)."""
    width = max(len(str(r["system"])) for r in rows)
    print(f"{'system':<{width}}  frames  E rmse (meV/atom)  F rmse (eV/A)  F mae (eV/A)")
    for r in [*rows, total]:
        print(f"{str(r['system']):<{width}}  {r['frames']:6d}  "
              f"{r['energy_rmse_per_atom_meV']:17.3f}  {r['force_rmse_eV_per_A']:13.4f}  "
              f"{r['force_mae_eV_per_A']:12.4f}")
    if args.json:
        print(json.dumps({k: total[k] for k in ("energy_rmse_per_atom_meV",
                                                "force_rmse_eV_per_A", "frames")}))
