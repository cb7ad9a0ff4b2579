"""Convert labeled frames between the data formats hpcml and DeePMD-kit use.

``hpcml convert IN [IN ...] OUT`` reads every IN (deepmd/npy directory,
deepmd/hdf5 file or ``FILE.h5#/GROUP``, hpcml HDF5 store, extxyz, anything
ASE reads; glob patterns such as DP-GEN's ``'iter.*/02.fp/data.*'``, quoted)
and writes them to OUT as one set of frames: an ``.xyz`` file is extxyz, an
``.h5`` file the hpcml store (``--to deepmd/hdf5`` for DeePMD-kit's), anything
else a directory of deepmd/npy systems (one per composition).  ``--type-map``
fixes the type order (DeePMD-kit's type_map of the model to train).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpcml.cli.common import nonempty


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register IN... OUT and the options."""
    parser.add_argument("paths", nargs="+", metavar="PATH", type=nonempty,
                        help="IN [IN ...] OUT: input data (one or more), then the output path")
    parser.add_argument("--from", dest="fmt_in", default="auto", metavar="FORMAT",
                        help="input format (default: detect each input)")
    parser.add_argument("--to", dest="fmt_out", default="auto",
                        choices=["auto", "deepmd/npy", "deepmd/hdf5", "hdf5", "extxyz"],
                        help="output format (default: from OUT's suffix)")
    parser.add_argument("--type-map", default=None, metavar="O,H", type=nonempty,
                        help="element order of the output types (default: as read)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUT file")


def run(args: argparse.Namespace) -> int:
    """Convert on rank 0 and print what was written (once under mpirun)."""
    from hpcml.cli.common import plain_context
    from hpcml.parallel import abort_on_error

    ctx = plain_context()
    with abort_on_error(ctx):
        done = ctx.comm.bcast(convert(args) if ctx.is_root else None, root=0)
    if ctx.is_root:
        print(f"hpcml convert: {done['frames']} frame(s), type_map {done['type_map']}, "
              f"as {done['format']}:")
        for path in done["written"]:
            print(f"  {path}")
    return 0


def convert(args: argparse.Namespace) -> dict:
    """Read the inputs, write the output; return a summary."""
    from hpcml.errors import ConfigError, DataError
    from hpcml.io import Frames, read_any
    from hpcml.io.formats import READERS, output_format, write_any

    if args.fmt_in != "auto" and args.fmt_in not in READERS:
        raise ConfigError(f"--from {args.fmt_in}: not a data format; choose one of auto, "
                          f"{', '.join(READERS)}")
    if len(args.paths) < 2:
        raise ConfigError("hpcml convert needs at least one input and the output: "
                          "hpcml convert IN [IN ...] OUT")
    *inputs, out = args.paths
    out = Path(out)
    fmt = output_format(out) if args.fmt_out == "auto" else args.fmt_out
    if out.exists():
        if fmt == "deepmd/npy" and out.is_dir() and any(out.iterdir()):
            raise ConfigError(f"{out}: a non-empty directory; deepmd/npy systems go into a new "
                              "or empty one")
        if out.is_file() and not args.force:
            raise ConfigError(f"{out}: already exists; pass --force to overwrite it")
        if any(Path(p.split("#")[0]).resolve() == out.resolve() for p in inputs):
            raise ConfigError(f"{out}: is also an input; write to another file")
    type_map = args.type_map.split(",") if args.type_map else None
    parts = [read_any(p, args.fmt_in, type_map) for p in inputs]
    names = type_map or list(dict.fromkeys(t for part in parts for t in part.type_map))
    try:
        frames = Frames.concat([part.with_type_map(names) for part in parts])
    except ValueError as exc:
        raise DataError(f"the inputs cannot be written as one set of frames ({exc}); "
                        "convert them separately") from None
    if out.is_file():
        out.unlink()                        # --force, after the inputs were read
    written = write_any(frames, out, fmt)
    return {"frames": frames.n_frames, "type_map": names, "format": fmt, "written": written}
