"""``ticketbook demo``: the TUI on a simulated Jira site, no account, no network.

    ticketbook demo [--issues N] [--seed S] [--db PATH] [--as-of YYYY-MM-DD]

1. generates a Jira Service Management site (``cache.fakejira.generate_site``,
   seeded: the same ``--issues`` / ``--seed`` / ``--as-of`` give the same data)
   and serves it on 127.0.0.1 (an ephemeral port) for the whole session;
2. points the Jira settings of this process at it (``TICKETBOOK_JIRA_URL`` /
   ``EMAIL`` / ``TOKEN`` in this process only; the user's config file is
   not read, so F5 in the demo syncs the simulated site);
3. **recreates** the demo database (default
   ``platformdirs.user_cache_dir("ticketbook")/demo.db``): the site is
   regenerated each run, so yesterday's cache would not match it.  A
   ``--db`` file that exists and is not a demo database is refused, never
   deleted;
4. imports sample contracts (:func:`demo_contracts`): every clause type
   (issue count limited and unlimited, service hours with amends, SLA success
   rate) and every period type, with JQL on the generated site's projects
   (SUP, HD, OPS), priorities, labels, organizations and SLA names, dated
   around the demo's "today" so each has past, current and future periods;
5. syncs the site into the database (progress on stderr), then opens the TUI
   with ``AppOptions(demo=True)``.  Quitting stops the site.

With ``--as-of`` the site's clock is frozen at noon UTC of that day (fully
reproducible screens: the tmux test uses it); without, the site follows the
wall clock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import sys
from decimal import Decimal

from tickets.errors import InputError, RunError

DEMO_MARKER = "demo_database"
DEFAULT_ISSUES = 1500


def default_demo_db() -> pathlib.Path:
    import platformdirs

    return pathlib.Path(platformdirs.user_cache_dir("ticketbook", appauthor=False)) / "demo.db"


def register_demo(sub, common) -> None:
    p = sub.add_parser(
        "demo", parents=[common], help="the TUI on a simulated Jira site (no account, no network)",
        description="Start the bundled simulated Jira Cloud site on 127.0.0.1 with generated data, sync it "
                    "into a demo database (recreated each run; default: "
                    f"{default_demo_db()}), import sample contracts and open the TUI.")
    p.add_argument("--issues", type=int, default=DEFAULT_ISSUES, metavar="N",
                   help=f"issues on the simulated site (default: {DEFAULT_ISSUES})")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the generated data (default: 1)")
    p.set_defaults(handler=run_demo)


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + y, month=m + 1)


def demo_contracts(today: dt.date) -> list:
    """Sample contracts around ``today`` covering every clause and period type."""
    from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal, hours_to_seconds

    month0 = _add_months(today.replace(day=1), -8)
    acme_end = _add_months(month0, 12) - dt.timedelta(days=1)
    amend_month = _add_months(month0, 3)
    anchor = today.replace(day=15) if today.day >= 15 else _add_months(today.replace(day=1), -1).replace(day=15)
    helios_start = _add_months(anchor, -4)
    ege_start = today - dt.timedelta(days=150)
    bank_start = today - dt.timedelta(days=420)
    galata_start = dt.date(today.year - 2, 1, 1)
    h = hours_to_seconds
    return [
        Contract(
            name="Acme Logistics - Monthly Support", start=month0, end=acme_end, time_zone="Europe/Istanbul",
            period_type=PeriodType.MONTHLY_CALENDAR, carry_over=False, borrowing=False,
            clauses=(
                Clause("High priority tickets", ClauseType.ISSUE_COUNT,
                       "project = SUP AND priority in (Highest, Critical, High)", limit=3),
                Clause("Service hours", ClauseType.SERVICE_HOURS, "project = SUP", limit=h(Decimal(80)),
                       amends=(Amend(amend_month + dt.timedelta(days=4), AmendKind.LIMIT, h(Decimal(30)),
                                     "Extra hours bought for the launch"),
                               Amend(amend_month + dt.timedelta(days=34), AmendKind.CONSUMPTION,
                                     -h(Decimal("7.5")), "Goodwill: hours not billed"))),
                Clause("All tickets", ClauseType.ISSUE_COUNT, "project = SUP"),
                Clause("Resolution SLA", ClauseType.SLA_SUCCESS_RATE, "project = SUP",
                       sla=("Time to resolution",), target=Decimal("90")),
            ),
            portal=Portal(help_center=True, portal_projects=("SUP",), organizations=("Acme Logistics",)),
        ),
        Contract(
            name="Bosphorus Bank - Annual Hours", start=bank_start,
            end=bank_start.replace(year=bank_start.year + 3) - dt.timedelta(days=1),
            time_zone="Europe/Istanbul", period_type=PeriodType.ANNUAL_EXACT_DAY, carry_over=True,
            clauses=(
                Clause("Helpdesk hours", ClauseType.SERVICE_HOURS, "project = HD", limit=h(Decimal(900))),
                Clause("VIP requests", ClauseType.ISSUE_COUNT, "project = HD AND labels = vip", limit=40),
            ),
            portal=Portal(help_center=False, portal_projects=("HD",), organizations=("Bosphorus Bank",)),
        ),
        Contract(
            name="Ege Energy - Operations Project", start=ege_start, end=today + dt.timedelta(days=60),
            time_zone="UTC", period_type=PeriodType.FIXED,
            clauses=(
                Clause("Incidents", ClauseType.ISSUE_COUNT, "project = OPS AND issuetype = Incident", limit=25),
                Clause("First response SLA", ClauseType.SLA_SUCCESS_RATE, "project = OPS",
                       sla=("Time to first response",), target=Decimal("95")),
            ),
            portal=Portal(help_center=True, organizations=("Ege Energy",)),
        ),
        Contract(
            name="Galata Telecom - Calendar Years", start=galata_start, end=dt.date(today.year + 1, 12, 31),
            time_zone="America/New_York", period_type=PeriodType.ANNUAL_CALENDAR, borrowing=True,
            clauses=(
                Clause("Critical tickets", ClauseType.ISSUE_COUNT, "project = HD AND priority = Critical",
                       limit=12),
                Clause("Onsite hours", ClauseType.SERVICE_HOURS, "project = HD AND labels = onsite",
                       limit=h(Decimal(150))),
            ),
            portal=Portal(help_center=True, portal_projects=("HD",), organizations=("Galata Telecom",)),
        ),
        Contract(
            name="Helios Health - Monthly from the 15th", start=helios_start,
            end=_add_months(helios_start, 12) - dt.timedelta(days=1), time_zone="Europe/Berlin",
            period_type=PeriodType.MONTHLY_EXACT_DAY, carry_over=True, borrowing=True,
            clauses=(
                Clause("Operations tickets", ClauseType.ISSUE_COUNT, "project = OPS AND priority >= High",
                       limit=3),
                Clause("Operations hours", ClauseType.SERVICE_HOURS, "project = OPS", limit=h(Decimal(40))),
                Clause("Close SLA", ClauseType.SLA_SUCCESS_RATE, "project = OPS",
                       sla=("Time to close after resolution", "Time to resolution"), target=Decimal("80.5")),
            ),
            portal=Portal(help_center=False, portal_projects=("OPS",), organizations=("Helios Health",)),
        ),
    ]


def _prepare_db_file(path: pathlib.Path) -> None:
    """Delete an earlier demo database (only one carrying the demo marker)."""
    import sqlite3

    if path.is_dir():
        raise InputError(f"--db: {path} is a directory")
    if path.exists() and path.stat().st_size > 0:
        try:
            con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key = ?", (DEMO_MARKER,)).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            row = None
        if row is None:
            raise InputError(f"--db: {path} exists and is not a demo database; the demo recreates its "
                             "database, so give a new file (or omit --db)")
    for suffix in ("", "-wal", "-shm"):
        try:
            pathlib.Path(str(path) + suffix).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise InputError(f"--db: cannot remove the old demo database {path}{suffix}: {exc.strerror}") from None


def point_settings_at(url: str, email: str, token: str, config_dir: pathlib.Path) -> None:
    """This process's Jira settings -> the simulated site (the user's config file is ignored)."""
    os.environ["TICKETBOOK_JIRA_URL"] = url
    os.environ["TICKETBOOK_JIRA_EMAIL"] = email
    os.environ["TICKETBOOK_JIRA_TOKEN"] = token
    os.environ["TICKETBOOK_CONFIG"] = str(config_dir / "demo-config.toml")
    os.environ.pop("TICKETBOOK_SYNC_PROJECTS", None)
    os.environ.pop("TICKETBOOK_SYNC_START", None)


def prepare_demo(db_path: pathlib.Path, *, issues: int = DEFAULT_ISSUES, seed: int = 1,
                 as_of: dt.date | None = None, progress=None):
    """Start the site, recreate and fill the demo database; return ``(fake_jira, sync_result, today)``.

    The database stays open (``cache.db.database``); the caller stops the site.
    """
    from cache.config import load_config
    from cache.db import open_database
    from cache.fakejira import DEMO_EMAIL, DEMO_TOKEN, FakeJira, generate_site
    from cache.jira import JiraClient
    from cache.models import Meta
    from cache.store import import_contracts
    from cache.sync import run_sync

    if issues < 0:
        raise InputError(f"--issues {issues}: must be 0 or more")
    now = None
    if as_of is not None:
        now = dt.datetime.combine(as_of, dt.time(12, 0), tzinfo=dt.timezone.utc)
    today = as_of or dt.date.today()
    site = generate_site(issues, seed=seed, now=now)
    fj = FakeJira(site)
    try:
        fj.start()
    except OSError as exc:
        raise RunError(f"cannot start the simulated Jira site on 127.0.0.1: {exc.strerror or exc}") from None
    try:
        point_settings_at(fj.url, DEMO_EMAIL, DEMO_TOKEN, db_path.parent)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _prepare_db_file(db_path)
        db = open_database(db_path)
        Meta.insert(key=DEMO_MARKER, value="1").on_conflict_replace().execute()
        import_contracts(demo_contracts(today))
        config = load_config()
        with JiraClient.from_settings(config.jira()) as client:
            result = run_sync(db, client, progress=progress, scope=config.scope, now=now)
    except BaseException:
        fj.stop()
        raise
    return fj, result, today


def _explicit_db(args: argparse.Namespace) -> str | None:
    """``--db`` only when given on the command line (TICKETBOOK_DB is the user's real database)."""
    given = any(a == "--db" or a.startswith("--db=") for a in sys.argv[1:])
    return args.db if given else None


def run_demo(args: argparse.Namespace) -> int:
    from cache.db import close_database
    from tui.app import AppOptions, TicketBookApp
    from tui.cmd_sync import ProgressPrinter

    db_arg = _explicit_db(args)
    if db_arg and str(db_arg).startswith(("postgres://", "postgresql://")):
        raise InputError("--db: the demo needs a SQLite file (it recreates its database)")
    db_path = pathlib.Path(db_arg).expanduser() if db_arg else default_demo_db()
    printer = ProgressPrinter()
    print(f"ticketbook demo: simulated Jira site with {args.issues} issues (seed {args.seed}); "
          f"database {db_path} (recreated each run)", file=sys.stderr, flush=True)
    try:
        fj, result, _today = prepare_demo(db_path, issues=args.issues, seed=args.seed, as_of=args.as_of,
                                          progress=printer)
    finally:
        printer.end()
    print(f"ticketbook demo: synced {result.issues_upserted} issues from {fj.url}; opening the TUI",
          file=sys.stderr, flush=True)
    try:
        TicketBookApp(AppOptions(db=str(db_path), as_of=args.as_of, demo=True)).run()
    finally:
        fj.stop()
        close_database()
    return 0
