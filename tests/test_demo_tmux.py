"""``ticketbook demo`` driven for real in tmux (a private tmux server per test).

Starts the installed ``ticketbook`` (the venv's, first on PATH) at 100x30
with a temporary database and data dirs, opens the report of the sample
monthly contract, flips carry-over with ``c`` and reads the changed figures
off ``tmux capture-pane -p``.  The expected figures come from the rules
engine, computed in this process from the demo's database.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

AS_OF = dt.date(2026, 6, 10)
ACME = "Acme Logistics - Monthly Support"
BIN = pathlib.Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (apt-get install tmux) - the real-terminal demo test needs it")


class Tmux:
    def __init__(self, tmp: pathlib.Path) -> None:
        self.socket = f"tb-test-{os.getpid()}-{tmp.name}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBOOK_")}
        self.env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "TERM": "xterm-256color",
            "XDG_CACHE_HOME": str(tmp / "cache"), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_CONFIG_HOME": str(tmp / "config"), "HOME": str(tmp),
        })

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, check=check,
                              capture_output=True, text=True, timeout=60)

    def start(self, command: str, width: int = 100, height: int = 30) -> None:
        self.run("new-session", "-d", "-s", "demo", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "demo").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "demo", *keys)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{self.screen()}")

    def alive(self) -> bool:
        return self.run("has-session", "-t", "demo", check=False).returncode == 0

    def kill(self) -> None:
        self.run("kill-server", check=False)


def current_row(screen: str) -> list[str]:
    for line in screen.splitlines():
        if "▶" in line:
            return line.split("▶", 1)[1].split()
    raise AssertionError(f"no current period row on screen:\n{screen}")


def open_acme_report(tmux: Tmux) -> str:
    """From the contract list (first screen, sorted by name: Acme first), ``r`` opens the report."""
    tmux.wait_for("Acme Logistics", timeout=90)
    time.sleep(0.5)
    tmux.keys("r")
    tmux.wait_for("Carry-over: off (c)", timeout=60)
    return tmux.wait_for("▶", timeout=30)


def test_demo_report_carry_over_in_a_real_terminal(tmp_path):
    db = tmp_path / "demo.db"
    tmux = Tmux(tmp_path)
    # (no stderr redirect: Textual draws on stderr)
    cmd = (f"ticketbook demo --issues 1500 --seed 1 --as-of {AS_OF} --db {db}; "
           f"echo exited $? > {tmp_path / 'exit.txt'}; sleep 60")
    tmux.start(cmd)
    try:
        before = open_acme_report(tmux)
        row = current_row(before)
        assert row[0] == "2026-06-01…06-30"
        # the engine's figures for this contract and period, under both policies
        from cache.db import close_database, open_database
        from cache.reports import contract_report

        open_database(db)
        try:
            base = contract_report(ACME, as_of=AS_OF)
            carried = contract_report(ACME, as_of=AS_OF, carry_over=True)
        finally:
            close_database()
        i = base.current_period
        c0, c1 = base.clauses[0].rows[i], carried.clauses[0].rows[i]
        assert c0.available != c1.available, "carry-over must change the current period of the demo"
        # row: Period, Limit, Amends, Carry in, Debt in, Available, Used, Remaining, Over, Status
        assert row[3:8] == [str(c0.carried_in), str(c0.debt_in), str(c0.available), str(c0.total_used),
                            str(c0.remaining)]
        tmux.keys("c")
        after = tmux.wait_for("Carry-over: ON (c)", timeout=30)
        assert "Preview — not saved" in after
        row = current_row(after)
        assert row[3:8] == [str(c1.carried_in), str(c1.debt_in), str(c1.available), str(c1.total_used),
                            str(c1.remaining)]
        # quit: the demo stops its simulated site and exits 0
        tmux.keys("C-q")
        deadline = time.monotonic() + 60
        while not (tmp_path / "exit.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "exit.txt").read_text().strip() == "exited 0", tmux.screen()
    finally:
        tmux.kill()
