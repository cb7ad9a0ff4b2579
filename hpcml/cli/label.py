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
``.provenance.json`` sidecar: method, CP2K version, input hash).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpcml.cli.common import add_config_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the labeling options (each overrides the config)."""
    add_config_argument(parser)
    parser.add_argument("--candidates", type=Path, default=None,
                        help="candidate frames (HDF5, extxyz or deepmd/npy)")
    parser.add_argument("--out", type=Path, default=None, help="labeled HDF5 store to write")
    parser.add_argument("--template", type=Path, default=None, help="CP2K input template")
    parser.add_argument("--workdir", type=Path, default=None,
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
    parser.add_argument("--export-deepmd", type=Path, default=None,
                        help="also write DeePMD-kit npy systems here")
    parser.add_argument("--export-extxyz", type=Path, default=None,
                        help="also write an extended XYZ file here")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the summary as the last line")


def apply_overrides(config, args: argparse.Namespace):  # noqa: ANN001, ANN201
    """Return ``config`` with the command-line overrides applied (validated again)."""
    from hpcml.config import parse_config

    data = config.model_dump(mode="json")
    for key in ("candidates", "out", "template", "workdir", "profile", "virial",
                "export_deepmd", "export_extxyz", "reuse_workdir", "keep_failed"):
        value = getattr(args, key)
        if value is not None:
            data["label"][key] = str(Path(value).resolve()) if isinstance(value, Path) \
                else value
    return parse_config(data, source="command line")


def run(args: argparse.Namespace) -> int:
    """Label the candidates; rank 0 prints the summary."""
    from hpcml.cli.common import parallel_job
    from hpcml.config import load_config
    from hpcml.errors import ConfigError
    from hpcml.io import read_any
    from hpcml.label.driver import label_frames

    config = apply_overrides(load_config(args.config), args)
    section = config.label
    if section.candidates is None:
        raise ConfigError(f"{args.config}: no label.candidates; give the candidate file in "
                          "the config or with --candidates FILE")
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
