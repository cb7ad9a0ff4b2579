"""User errors reach the user as one message and exit status 2, never a traceback."""

import hpcml.cli.main as cli
import hpcml.cli.status


def test_memory_error_is_a_message(monkeypatch, capsys):
    """Before: a MemoryError traceback (e.g. kinetic --nx 1e8 on a small node)."""
    def too_big(args):
        raise MemoryError

    monkeypatch.setattr(hpcml.cli.status, "run", too_big)
    assert cli.main(["status", "x"]) == cli.EXIT_USER_ERROR
    assert "out of memory" in capsys.readouterr().err
