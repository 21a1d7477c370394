"""`ticketbook report | summary | issue | panel` (interfaces.md), from the cache, offline.

- ``report NAME [--format table|csv|json] [--carry-over|--no-carry-over]
  [--borrowing|--no-borrowing]``: the period report; the policy flags are a
  preview and are never saved to the contract.
- ``summary NAME [--format table|json]``: the current period summary.
- ``issue KEY [--format table|json]``: where one issue counts.
- ``panel --user ACCOUNT_ID (--help-center | --portal PROJECT_KEY)
  [--format text|json|html]``: the customer-portal panels that user would see.

"Today" is ``--as-of`` / ``TICKETBOOK_AS_OF``, else the contract's local
date.  A report on a database that was never synced prints a note on stderr
(and ``synced_at`` is null).  Clause memberships are brought up to date
locally; a clause whose JQL needs Jira shows as pending until a sync
evaluates it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from cache import reports, store
from cache.db import opened_database
from tickets.errors import InputError
from tickets.render import (
    render_issue_table,
    render_panel_html,
    render_panel_text,
    render_report_csv,
    render_report_table,
    render_summary_table,
)
from tickets.report import report_to_json



def register(sub, common) -> None:
    """Add ``report``, ``summary``, ``issue`` and ``panel`` to `sub`."""
    p = sub.add_parser("report", parents=[common], help="the period report of one contract",
                       description="The period report of one contract, computed from the cache. "
                                   "The policy flags preview a policy without saving it.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--carry-over", dest="carry_over", action=argparse.BooleanOptionalAction, default=None,
                   help="preview with carry-over on/off (not saved)")
    p.add_argument("--borrowing", dest="borrowing", action=argparse.BooleanOptionalAction, default=None,
                   help="preview with borrowing on/off (not saved)")
    p.set_defaults(handler=run_report)

    p = sub.add_parser("summary", parents=[common], help="the current period summary of one contract")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=run_summary)

    p = sub.add_parser("issue", parents=[common], help="contracts, clauses and periods that count one issue")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=run_issue)

    p = sub.add_parser("panel", parents=[common], help="the customer-portal panels a user would see")
    p.add_argument("--user", required=True, metavar="ACCOUNT_ID", help="Atlassian account id ('' = anonymous)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--help-center", action="store_true", help="the Help Center")
    where.add_argument("--portal", metavar="PROJECT_KEY", help="one service-desk project's portal")
    p.add_argument("--format", choices=("text", "json", "html"), default="text")
    p.set_defaults(handler=run_panel)




def _today_for(name: str, as_of: dt.date | None) -> dt.date:
    if as_of is not None:
        return as_of
    return reports.local_today(store.load_contract(name), None)


def _never_synced_note(synced_at) -> None:
    if synced_at is None:
        print("ticketbook: note: this database was never synced; figures cover no Jira data "
              "(run: ticketbook sync)", file=sys.stderr)


def run_report(args: argparse.Namespace) -> int:
    with opened_database(args.db):
        today = _today_for(args.name, args.as_of)
        report = reports.contract_report(args.name, as_of=today, carry_over=args.carry_over,
                                         borrowing=args.borrowing)
    _never_synced_note(report.synced_at)
    if args.format == "json":
        sys.stdout.write(report_to_json(report) + "\n")
    elif args.format == "csv":
        sys.stdout.write(render_report_csv(report))
    else:
        sys.stdout.write(render_report_table(report))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    with opened_database(args.db):
        today = _today_for(args.name, args.as_of)
        summary = reports.contract_summary(args.name, today)
    _never_synced_note(summary["synced_at"])
    if args.format == "json":
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_summary_table(summary))
    return 0


def run_issue(args: argparse.Namespace) -> int:
    with opened_database(args.db):
        today = args.as_of or dt.date.today()
        view = reports.issue_view(args.key, today)
    if args.format == "json":
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_issue_table(view))
    return 0


def run_panel(args: argparse.Namespace) -> int:
    portal = args.portal
    if portal is not None and not portal.strip():
        raise InputError("--portal: give a project key")
    with opened_database(args.db):
        panels = reports.portal_panels(args.user, help_center=args.help_center, portal_key=portal,
                                       as_of=args.as_of)
    if args.format == "json":
        print(json.dumps({"user": args.user, "location": "help_center" if args.help_center else
                          {"portal": portal}, "panels": panels}, indent=2, ensure_ascii=False))
    elif args.format == "html":
        sys.stdout.write(render_panel_html(panels))
    else:
        text = render_panel_text(panels)
        if text:
            sys.stdout.write(text)
        else:
            print("no panels for this user here", file=sys.stderr)
    return 0

