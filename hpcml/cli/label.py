"""Label candidate frames with CP2K and write a labeled HDF5 frame store.

``hpcml label CONFIG`` reads the ``label`` section: the candidate file (HDF5
frame store, extxyz or deepmd/npy), the CP2K template (default: built-in
GFN1-xTB), the launch profile and the failure handling.  Each frame is one
task run in its own directory under ``label.workdir``; under ``mpirun -n N``
the tasks are spread over the N ranks.  Failed frames are retried with the
``label.retries`` settings; more failures than ``label.ratio_failed`` stop the
stage with a summary (exit status 2).  Re-running the command runs only the
tasks without a completion marker for the same frame and input, and retries
failed ones (``--keep-failed`` keeps them failed).  The workdir is locked
while the command runs, and one made for other inputs is refused unless
``--reuse-workdir``.  Writes ``label.out`` (and its
``.provenance.json`` sidecar: method, CP2K version, input hash, exports).
An existing output that no earlier ``hpcml label`` into ``label.out`` wrote
(a file of another program, a directory of one's own) is refused before any
CP2K run unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpcml.cli.common import add_config_argument, pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the labeling options (each overrides the config)."""
    add_config_argument(parser)
    parser.add_argument("--candidates", type=pathname, default=None,
                        help="candidate frames (HDF5, extxyz or deepmd/npy)")
    parser.add_argument("--out", type=pathname, default=None, help="labeled HDF5 store to write")
    parser.add_argument("--template", type=pathname, default=None, help="CP2K input template")
    parser.add_argument("--workdir", type=pathname, default=None,
                        help="task directories and completion markers")
    parser.add_argument("--reuse-workdir", action="store_true", default=None,
                        help="use a workdir made for other candidates or input (unchanged "
                        "tasks keep their labels, the others run again)")
    parser.add_argument("--keep-failed", action="store_true", default=None,
                        help="keep the failed tasks of an earlier run failed instead of "
                        "retrying them")
    parser.add_argument("--profile", default=None, help="launch profile name or YAML file")
    parser.add_argument("--virial", action="store_true", default=None,
                        help="also label the virial (stress tensor)")
    parser.add_argument("--export-deepmd", type=pathname, default=None,
                        help="also write DeePMD-kit npy systems here")
    parser.add_argument("--export-extxyz", type=pathname, default=None,
                        help="also write an extended XYZ file here")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the summary as the last line")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing outputs (--out, --export-*) that hpcml label "
                        "did not write")


#: the options that name an output -> (its key in the label section, a file name to
#: suggest, or None for a directory)
OUTPUTS = {"--out": ("out", "labeled.h5"), "--export-deepmd": ("export_deepmd", None),
           "--export-extxyz": ("export_extxyz", "labeled.xyz")}


def apply_overrides(config, args: argparse.Namespace, source: str = "config"):  # noqa: ANN001, ANN201
    """Return ``config`` with the command-line overrides applied (validated again)."""
    from hpcml.cli.overrides import apply_overrides as apply

    overrides = {}
    for key in ("candidates", "out", "template", "workdir", "profile", "virial",
                "export_deepmd", "export_extxyz", "reuse_workdir", "keep_failed"):
        value = getattr(args, key)
        overrides[f"--{key.replace('_', '-')}"] = (
            ("label", key), value.resolve() if isinstance(value, Path) else value)
    return apply(config, source, overrides)


def check_outputs(section, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Refuse to destroy what ``hpcml label`` did not write, before any CP2K run.

    A directory given for a file (or a file for a directory) is an error; an
    existing output is replaced only when an earlier ``hpcml label`` wrote it
    (``label.out`` with its provenance sidecar, the exports recorded there),
    or with ``--force``.

    Raises
    ------
    ConfigError
        Naming the option (or key), the path and the fix.
    """
    from hpcml.errors import ConfigError
    from hpcml.label.store import provenance_path, read_provenance

    written = set()
    if provenance_path(section.out).is_file():
        try:
            batches = read_provenance(section.out)["batches"]
        except (ValueError, KeyError, TypeError):
            batches = []
        written = {str(Path(section.out).resolve())} | \
            {p for batch in batches for p in batch.get("exports", [])}
    for option, (key, example) in OUTPUTS.items():
        target = getattr(section, key)
        if target is None or not target.exists():
            continue
        name = f"{option} {target}" if getattr(args, key) is not None else f"label.{key} " \
            f"{target}"
        if example is None and not target.is_dir():
            raise ConfigError(f"{name}: is a file; the DeePMD-kit systems are written to a "
                              "directory: give a new directory")
        if example is not None and target.is_dir():
            raise ConfigError(f"{name}: is a directory; give a file name, e.g. "
                              f"{target / example}")
        if str(target.resolve()) not in written and not args.force:
            raise ConfigError(f"{name}: already exists and hpcml label did not write it (no "
                              f"record in {provenance_path(section.out)}), so it would be "
                              "overwritten; give another path, or pass --force to overwrite it")


def run(args: argparse.Namespace) -> int:
    """Label the candidates; rank 0 prints the summary."""
    from hpcml.cli.common import parallel_job
    from hpcml.config import load_config
    from hpcml.errors import ConfigError
    from hpcml.io import read_any
    from hpcml.label.driver import label_frames

    config = apply_overrides(load_config(args.config), args, str(args.config))
    section = config.label
    if section.candidates is None:
        raise ConfigError(f"{args.config}: no label.candidates; give the candidate file in "
                          "the config or with --candidates FILE")
    check_outputs(section, args)
    with parallel_job(args, config) as ctx:
        frames = read_any(section.candidates, section.format)
        summary = label_frames(ctx, section, frames, str(section.candidates))
        if ctx.is_root:
            print(f"hpcml label: {summary.n_labeled} of {summary.n_candidates} frames labeled "
                  f"with {summary.method} ({summary.cp2k}), {summary.n_failed} failed, "
                  f"{summary.n_run} task(s) run in {summary.wall_seconds:.1f} s; "
                  f"wrote {summary.out}")
            if args.json:
                print(json.dumps(summary.as_dict()))
    return 0
