"""Validate config files and print the config schema or reference.

``hpcml config check FILE...`` validates each file strictly (unknown keys,
types, allowed values, input paths); ``hpcml config schema`` prints the JSON
schema; ``hpcml config docs`` prints the Markdown reference.
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import pathname


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``check``, ``schema`` and ``docs``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate config files")
    check.add_argument("files", nargs="+", type=pathname, metavar="FILE")
    for name, what in (("schema", "JSON schema"), ("docs", "Markdown reference")):
        cmd = sub.add_parser(name, help=f"print the config {what}")
        cmd.add_argument("--out", type=pathname, default=None, help="write to this file instead")
        cmd.add_argument("--force", action="store_true", help="overwrite an existing --out file")


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
        from hpcml.cli.outputs import check_output_file

        check_output_file(args.out, "--out", args.force, f"hpcml config {args.action}",
                          example="schema.json" if args.action == "schema" else "config.md")
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0
