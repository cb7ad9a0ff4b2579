"""Validate config files and print the config schema or reference.

``hpcml config check FILE...`` validates each file strictly (unknown keys,
types, allowed values, input paths); ``hpcml config schema`` prints the JSON
schema; ``hpcml config docs`` prints the Markdown reference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``check``, ``schema`` and ``docs``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate config files")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    for name, what in (("schema", "JSON schema"), ("docs", "Markdown reference")):
        cmd = sub.add_parser(name, help=f"print the config {what}")
        cmd.add_argument("--out", type=Path, default=None, help="write to this file instead")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; a bad config raises ConfigError (exit status 2)."""
    import hpcml.config as config

    if args.action == "check":
        for path in args.files:
            loaded = config.load_config(path)
            sections = [name for name in type(loaded).model_fields
                        if name in loaded.model_fields_set]
            print(f"{path}: OK (sections: {', '.join(sections)})")
        return 0
    text = (json.dumps(config.json_schema(), indent=2) if args.action == "schema"
            else config.markdown_reference())
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0
