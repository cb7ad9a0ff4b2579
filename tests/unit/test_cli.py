"""The ``hpcml`` command: parser, pending subcommands, entry points."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpcml.cli.main import BUILT, EXIT_NOT_BUILT, PENDING, build_parser, main

DESIGN_COMMANDS = {"demo", "run", "status", "report", "md", "label", "train", "test",
                   "kinetic", "moments", "config", "export", "import", "convert"}


def test_every_design_subcommand_is_registered():
    assert set(BUILT) | set(PENDING) == DESIGN_COMMANDS
    assert not set(BUILT) & set(PENDING)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("hpcml ")


@pytest.mark.parametrize("name", sorted(PENDING))
def test_pending_subcommand_says_so_and_fails(name, capsys):
    issue = PENDING[name][0]
    assert main([name, "x"]) == EXIT_NOT_BUILT
    err = capsys.readouterr().err
    assert f"`hpcml {name}`" in err and f"issue {issue}" in err
    assert "not built yet" in err


def test_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["trian"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_lists_subcommands():
    text = build_parser().format_help()
    for name in DESIGN_COMMANDS:
        assert name in text


def test_python_m_and_console_script():
    env = dict(os.environ, HPCML_NO_MPI="1")
    proc = subprocess.run([sys.executable, "-m", "hpcml", "moments", "train"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == EXIT_NOT_BUILT
    assert "issue 17" in proc.stderr
    script = Path(sys.executable).with_name("hpcml")
    if script.exists():
        proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                              env=env, check=False)
        assert proc.returncode == 0 and proc.stdout.startswith("hpcml")


def test_cli_reference_is_up_to_date():
    from hpcml.cli.reference import cli_reference

    root = Path(__file__).resolve().parents[2]
    assert (root / "docs" / "cli.md").read_text() == cli_reference() + "\n", \
        "regenerate: python -m hpcml.cli.reference > docs/cli.md"
