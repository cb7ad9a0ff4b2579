"""Write ensemble members as DeePMD-kit model files.

``hpcml export ENSEMBLE --format deepmd --out FILE.dp`` writes member K
(``--member K``), or the only member, as DeePMD-kit's backend-independent
``.dp`` file; with several members and no ``--member`` it writes
``FILE.000.dp``, ``FILE.001.dp``, ... (DP-GEN's ``graph.00k`` naming).
Then, in a DeePMD-kit environment, ``dp convert-backend FILE.dp FILE.pth``
gives the PyTorch model that ``dp --pt test``, ASE and LAMMPS
(``pair_style deepmd FILE.pth``) load; see docs/interop.md.  A model feature
DeePMD-kit cannot represent stops the export with its name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ENSEMBLE and the options."""
    parser.add_argument("ensemble", type=pathname, help="ensemble.pt (or model file) from hpcml")
    parser.add_argument("--member", type=int, default=None, metavar="K",
                        help="export member K only (default: every member)")
    parser.add_argument("--format", default="deepmd", choices=["deepmd"],
                        help="model format (deepmd: DeePMD-kit's .dp file)")
    parser.add_argument("--out", type=pathname, required=True, metavar="FILE.dp",
                        help="output file; several members get FILE.000.dp, FILE.001.dp, ...")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args: argparse.Namespace) -> int:
    """Export on rank 0 and print the files written (once under mpirun)."""
    from hpcml.cli.common import plain_context
    from hpcml.parallel import abort_on_error

    ctx = plain_context()
    with abort_on_error(ctx):
        written = ctx.comm.bcast(export(args) if ctx.is_root else None, root=0)
    if ctx.is_root:
        for member, path in written:
            print(f"hpcml export: member {member} -> {path}")
    return 0


def export(args: argparse.Namespace) -> list[tuple[int, Path]]:
    """Write the files; return (member, path) pairs."""
    from hpcml.cli.outputs import check_output_file
    from hpcml.errors import ConfigError
    from hpcml.io.dpfile import write_dp
    from hpcml.molecular.committee import Committee
    from hpcml.train.deepmd_export import file_dict

    out = Path(args.out)
    if out.suffix != ".dp":
        raise ConfigError(f"--out {out}: DeePMD-kit recognises its model format by the "
                          f"suffix; name the file {out.with_suffix('.dp').name}")
    committee = Committee.load(args.ensemble)
    k = len(committee)
    if args.member is not None and not 0 <= args.member < k:
        raise ConfigError(f"--member {args.member}: {args.ensemble} has members 0..{k - 1}")
    members = [args.member] if args.member is not None else list(range(k))
    paths = ([out] if len(members) == 1 else
             [out.with_name(f"{out.stem}.{m:03d}{out.suffix}") for m in members])
    for path in paths:
        check_output_file(path, "--out", args.force, "hpcml export")
    # build every dict first, so an unsupported feature writes nothing
    data = [file_dict(committee.models[m], f"{args.ensemble} member {m}") for m in members]
    return [(m, write_dp(p, d)) for m, p, d in zip(members, paths, data)]
