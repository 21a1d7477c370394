from __future__ import annotations

import subprocess
import sys

from tui.cli import main


def test_help_lists_commands(capsys) -> None:
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "ticketbook" in out


def test_usage_error_is_one_line_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "tui", "no-such-command"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_as_of_is_input_error(capsys) -> None:
    assert main(["--as-of", "2025-13-01"]) == 2
    assert "--as-of" in capsys.readouterr().err
