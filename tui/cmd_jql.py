"""`ticketbook jql ...`: JQL tools (jql.md).

- ``jql check JQL``: parse, print the canonical form (exit 0) or the error
  with a caret under its position on stderr (exit 2).
- ``jql match JQL``: the keys of the cached issues matching, one per line
  (exit 0); a syntax error or a bad value exits 2 (caret display for syntax
  errors); a query that needs Jira (``~``, ``WAS``, ``membersOf()``, an
  unknown value...) prints the reason and exits 1.
- ``jql verify [CONTRACT]``: compares every locally evaluated clause (of that
  contract, or of all) with Jira's ``POST /rest/api/3/jql/match`` over the
  cached issue ids and prints each difference; exit 0 if none, 1 otherwise.
  Needs the Jira settings (as ``ticketbook sync``).
"""

from __future__ import annotations

import argparse
import sys

from tickets.jql import JqlSyntaxError, format_error, normalise, parse


def register(sub, common) -> None:
    """Add ``jql`` and its actions to `sub` (argparse sub-parsers); `common` holds the global options."""
    jql = sub.add_parser("jql", parents=[common], help="check JQL, match it against the cache, verify local evaluation against Jira",
                         description="JQL tools.")
    actions = jql.add_subparsers(dest="jql_action", metavar="ACTION", parser_class=type(jql))
    jql.set_defaults(handler=lambda args: _usage(jql))

    check = actions.add_parser(
        "check", parents=[common], help="parse a query and print its canonical form",
        description="Parse JQL and print it in canonical form (upper-case keywords, minimal quoting)."
                    " A syntax error prints the query with a caret under the problem and exits 2.")
    check.add_argument("jql", metavar="JQL", help="the query (quote it for the shell); '-' reads stdin")
    check.set_defaults(handler=run_check)

    match = actions.add_parser(
        "match", parents=[common], help="list the cached issues matching a query",
        description="Evaluate JQL against the local cache and print the matching issue keys, one per line."
                    " Exit 1 (with the reason) when the query needs Jira (text search, history, server"
                    " functions, values the cache does not know); exit 2 for invalid JQL.")
    match.add_argument("jql", metavar="JQL", help="the query (quote it for the shell); '-' reads stdin")
    match.set_defaults(handler=run_match)

    verify = actions.add_parser(
        "verify", parents=[common], help="compare local clause evaluation with Jira's",
        description="For every clause evaluated locally (of CONTRACT, or of all contracts), compare the"
                    " local matches with Jira's /rest/api/3/jql/match over the cached issues and list each"
                    " difference. Exit 0 if none, 1 if any. Needs the Jira settings (see `ticketbook config show`).")
    verify.add_argument("contract", metavar="CONTRACT", nargs="?", help="a contract name (default: all)")
    verify.set_defaults(handler=run_verify)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("ticketbook jql: error: choose an action (check, match, verify)", file=sys.stderr)
    return 2


def _read_jql(args: argparse.Namespace) -> str:
    text = sys.stdin.read() if args.jql == "-" else args.jql
    if args.jql == "-" and text.endswith("\n"):
        text = text[:-1]
    return text


def run_check(args: argparse.Namespace) -> int:
    text = _read_jql(args)
    try:
        query = parse(text)
    except JqlSyntaxError as err:
        print(f"ticketbook: jql: {err.message}", file=sys.stderr)
        print(format_error(text, err), file=sys.stderr)
        return 2
    print(normalise(query))
    return 0


def run_match(args: argparse.Namespace) -> int:
    from cache import membership
    from cache.db import close_database, open_database

    text = _read_jql(args)
    open_database(args.db)
    try:
        keys = membership.match_keys(text, today=args.as_of)
    except JqlSyntaxError as err:
        print(f"ticketbook: jql: {err.message}", file=sys.stderr)
        print(format_error(text, err), file=sys.stderr)
        return 2
    except membership.NotLocal as exc:
        print(f"ticketbook: jql: cannot evaluate locally: {exc}", file=sys.stderr)
        return 1
    finally:
        close_database()
    for key in keys:
        print(key)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from cache import membership
    from cache.config import load_config
    from cache.db import close_database, open_database
    from cache.jira import JiraClient
    from cache.models import Contract
    from tickets.errors import InputError

    settings = load_config().jira()  # InputError (exit 2) names what to set
    open_database(args.db)
    try:
        contract_id = None
        if args.contract:
            row = Contract.get_or_none(Contract.name_key == args.contract.strip().casefold())
            if row is None:
                raise InputError(f"no contract named {args.contract!r} (see `ticketbook contracts list`)")
            contract_id = row.id
        with JiraClient.from_settings(settings) as client:
            diffs = membership.verify(client, contract_id=contract_id, today=args.as_of)
    finally:
        close_database()
    for contract, clause, key, local, jira in diffs:
        print(f"{contract} / {clause}: {key}: local: {'yes' if local else 'no'}, jira: {'yes' if jira else 'no'}")
    if diffs:
        print(f"ticketbook: jql verify: {len(diffs)} difference(s)", file=sys.stderr)
        return 1
    print("no differences", file=sys.stderr)
    return 0
