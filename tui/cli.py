"""The ``ticketbook`` command line.

Every sub-command lives in its own ``tui/cmd_*.py`` module exposing
``register(subparsers)``; each handler is a function ``(args) -> int``.
Errors derived from :class:`tickets.errors.TicketbookError` print as one line
on stderr with their exit status; anything else is a bug and prints one line
too (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys

from tickets.errors import InputError, TicketbookError

# Order here is the order of ``ticketbook --help``.
COMMAND_MODULES = (
    "tui.cmd_app",
    "tui.cmd_sync",
    "tui.cmd_contracts",
    "tui.cmd_reports",
    "tui.cmd_jql",
    "tui.cmd_fakejira",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.exit(2, f"ticketbook: error: {message}\n")


def parse_as_of(value: str | None) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of / TICKETBOOK_AS_OF: {value!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL_OR_PATH",
                        help="SQLite file or postgresql:// URL (env TICKETBOOK_DB; default: user data dir)")
    common.add_argument("--as-of", default=argparse.SUPPRESS, metavar="YYYY-MM-DD",
                        help="the date treated as today (env TICKETBOOK_AS_OF)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    parser = _Parser(prog="ticketbook", parents=[common],
                     description="Service contracts on Jira Service Management, in the terminal.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.set_defaults(handler=None, _common=common)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def resolve_globals(args: argparse.Namespace) -> argparse.Namespace:
    """Fill --db / --as-of / --debug from the environment where not given."""
    if not hasattr(args, "db"):
        args.db = os.environ.get("TICKETBOOK_DB") or None
    if not hasattr(args, "as_of"):
        args.as_of = os.environ.get("TICKETBOOK_AS_OF") or None
    args.as_of = parse_as_of(args.as_of) if isinstance(args.as_of, (str, type(None))) else args.as_of
    if not hasattr(args, "debug"):
        args.debug = False
    return args


#: SQLite's words for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB): found on the first query that
#: reads a damaged page, long after opening succeeded.
_DAMAGED = ("database disk image is malformed", "file is not a database")


def known_failure(exc: BaseException, db: str | None) -> str | None:
    """The one-line message (exit 2) for a failure that is the input's fault, not a bug; else None.

    * a SQLite file damaged in the middle: the same ``--db: ...`` line a
      truncated file gets when opening;
    * a query whose SQL the database refuses as too large
      (:func:`cache.jqlsql.too_complex`, e.g. ``jql match`` with a huge query).
    """
    import sqlite3

    import peewee as pw

    if not isinstance(exc, (pw.DatabaseError, sqlite3.DatabaseError, RecursionError)):
        return None
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if any(word in text.lower() for word in _DAMAGED):
        from cache.db import describe

        return f"--db: {describe(db)}: {text}"
    from cache.jqlsql import too_complex

    return too_complex(exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = resolve_globals(parser.parse_args(argv))
        if args.handler is None:
            from tui.cmd_app import run_app  # the TUI is the default command

            return run_app(args)
        return int(args.handler(args) or 0)
    except TicketbookError as exc:
        if debug:
            raise
        print(f"ticketbook: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ticketbook: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        known = known_failure(exc, getattr(args, "db", None))
        if known is not None:
            print(f"ticketbook: {known}", file=sys.stderr)
            return InputError.exit_code
        print(f"ticketbook: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
