"""`ticketbook` (no command): the TUI; `ticketbook demo`: the TUI on a simulated Jira."""

from __future__ import annotations

import argparse


def register(sub, common) -> None:
    p = sub.add_parser("tui", parents=[common], help="open the terminal UI (the default command)")
    p.set_defaults(handler=run_app)
    try:
        from tui.demo import register_demo
    except ImportError:  # the demo arrives with the TUI issue
        return
    register_demo(sub, common)


def run_app(args: argparse.Namespace) -> int:
    """Open the database (migrating it), then run the app until the user quits."""
    from cache.db import close_database, open_database
    from tui.app import AppOptions, TicketBookApp

    open_database(args.db)
    try:
        TicketBookApp(AppOptions(db=args.db, as_of=args.as_of, first_run_check=True)).run()
    finally:
        close_database()
    return 0
