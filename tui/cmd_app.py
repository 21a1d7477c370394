"""`ticketbook` (no command): the TUI, and `ticketbook demo`."""

from __future__ import annotations

import sys


def register(sub, common) -> None:
    """The TUI has no sub-command of its own yet; `demo` arrives with the TUI issue."""


def run_app(args) -> int:
    print("ticketbook: the terminal UI is not built yet; see `ticketbook --help` for the commands.",
          file=sys.stderr)
    return 0
