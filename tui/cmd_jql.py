"""`ticketbook jql ...`: JQL tools (jql.md).

- ``jql check JQL``: parse, print the canonical form (exit 0) or the error
  with a caret under its position on stderr (exit 2).
- ``jql match`` / ``jql verify`` (local evaluation against the cache, checked
  with Jira's ``/jql/match``) are to come: add them in :func:`register`.
"""

from __future__ import annotations

import argparse
import sys

from tickets.jql import JqlSyntaxError, format_error, normalise, parse


def register(sub, common) -> None:
    """Add ``jql`` and its actions to `sub` (argparse sub-parsers); `common` holds the global options."""
    jql = sub.add_parser("jql", parents=[common], help="check JQL (and, later, evaluate it locally)",
                         description="JQL tools.")
    actions = jql.add_subparsers(dest="jql_action", metavar="ACTION", parser_class=type(jql))
    jql.set_defaults(handler=lambda args: _usage(jql))

    check = actions.add_parser(
        "check", parents=[common], help="parse a query and print its canonical form",
        description="Parse JQL and print it in canonical form (upper-case keywords, minimal quoting)."
                    " A syntax error prints the query with a caret under the problem and exits 2.")
    check.add_argument("jql", metavar="JQL", help="the query (quote it for the shell); '-' reads stdin")
    check.set_defaults(handler=run_check)

    # Next: `jql match JQL` (evaluate against the cache) and `jql verify JQL` (compare with
    # POST /rest/api/3/jql/match); they need the cache and the SQL compiler.


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("ticketbook jql: error: choose an action (check)", file=sys.stderr)
    return 2


def run_check(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.jql == "-" else args.jql
    if args.jql == "-" and text.endswith("\n"):
        text = text[:-1]
    try:
        query = parse(text)
    except JqlSyntaxError as err:
        print(f"ticketbook: jql: {err.message}", file=sys.stderr)
        print(format_error(text, err), file=sys.stderr)
        return 2
    print(normalise(query))
    return 0
