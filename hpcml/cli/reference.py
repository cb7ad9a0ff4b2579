"""The CLI reference (docs/cli.md), generated from the argument parser.

Regenerate with ``python -m hpcml.cli.reference > docs/cli.md``; a unit test
checks that the file is up to date.
"""

from __future__ import annotations

import argparse
import os

from hpcml.cli.main import BUILT, PENDING, build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Subcommand name -> parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference(width: int = 100) -> str:
    """Markdown with the help text of ``hpcml`` and of every subcommand, ``width`` columns."""
    os.environ["COLUMNS"] = str(width)  # argparse wraps help to the terminal width
    parser = build_parser()
    parts = ["# CLI reference", "",
             "Generated from the parser by `python -m hpcml.cli.reference`; do not edit.", "",
             "```", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subparsers(parser).items():
        status = "" if name in BUILT else f" (not built yet: issue {PENDING[name][0]})"
        parts += [f"## `hpcml {name}`{status}", "", "```", sub.format_help().rstrip(), "```", ""]
        for action_name, action_parser in _subparsers(sub).items():
            parts += [f"### `hpcml {name} {action_name}`", "", "```",
                      action_parser.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(cli_reference() + "\n")
