"""Read DeePMD-kit se_e2_a models into an hpcml ensemble file.

``hpcml import FILE.dp [FILE.dp ...] --out ENSEMBLE`` makes one member of
each DeePMD-kit ``.dp`` file (``dp convert-backend frozen_model.pth
FILE.dp``, or ``graph.pb FILE.dp`` from DeePMD-kit's TensorFlow backend)
and writes ``ENSEMBLE`` (``ensemble.pt``), which ``hpcml md`` (``md.model``:
exploration from DP-GEN's models), ``hpcml test`` and the ASE calculator read.  Only se_e2_a energy
models are accepted; another descriptor (or any feature hpcml's DeepPot does
not compute) stops the import with its name and what is supported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register FILE.dp... and the options."""
    parser.add_argument("models", nargs="+", type=pathname, metavar="FILE.dp",
                        help="DeePMD-kit .dp model files, one ensemble member each")
    parser.add_argument("--out", type=pathname, required=True, metavar="ENSEMBLE",
                        help="ensemble file to write (e.g. ensemble.pt)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    """Import on rank 0 and print a summary (once under mpirun)."""
    from hpcml.cli.common import plain_context
    from hpcml.parallel import abort_on_error

    ctx = plain_context()
    with abort_on_error(ctx):
        summary = ctx.comm.bcast(import_models(args) if ctx.is_root else None, root=0)
    if ctx.is_root:
        print(f"hpcml import: {summary['members']} member(s), type_map {summary['type_map']}, "
              f"rcut {summary['rcut']} A, sel {summary['sel']} -> {summary['path']}")
    return 0


def import_models(args: argparse.Namespace) -> dict:
    """Read every file, check, write the ensemble; return a summary."""
    from hpcml.cli.outputs import check_output_file
    from hpcml.errors import DataError
    from hpcml.io.dpfile import read_dp
    from hpcml.molecular.committee import Committee
    from hpcml.train.deepmd_import import load_deepmd

    check_output_file(Path(args.out), "--out", args.force, "hpcml import")
    models, sources = [], []
    for path in args.models:
        data = read_dp(path)
        models.append(load_deepmd(data, str(path)))
        sources.append({"path": str(path), "software": data.get("software"),
                        "version": data.get("version")})
    first = models[0].spec
    for path, m in zip(args.models[1:], models[1:]):
        if (m.spec.rcut, m.spec.sel, m.spec.type_map) != (first.rcut, first.sel,
                                                           first.type_map):
            raise DataError(f"{path}: rcut {m.spec.rcut}, sel {list(m.spec.sel)}, type_map "
                            f"{list(m.spec.type_map)} differ from {args.models[0]} "
                            f"({first.rcut}, {list(first.sel)}, {list(first.type_map)}); "
                            "committee members must share them")
    path = Committee(models, {"imported_from": sources}).save(args.out)
    return {"members": len(models), "type_map": list(first.type_map), "rcut": first.rcut,
            "sel": list(first.sel), "path": str(path)}
