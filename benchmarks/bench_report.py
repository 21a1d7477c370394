"""Benchmark: the period report of one big contract from a big cache (not a test).

    .venv/bin/python benchmarks/bench_report.py [--issues 200000] [--worklogs 1000000] [--db PATH] [--runs 7]

Builds (bulk inserts, parameterised SQL) a SQLite cache of ``--issues`` issues
over 10 projects created 2020-12..2026-01 and ``--worklogs`` worklogs, two
SLAs per issue (about 18 % breached), and one contract of 10 clauses with 60
monthly periods (2021-01-01..2025-12-31, Europe/Istanbul).  Memberships are
evaluated once by ``cache.membership`` (local SQL, timed as "cold"); then it
times, median of ``--runs``:

* the whole report with memberships cached (``cache.reports.contract_report``);
* the measuring SQL alone (``cache.measure.measure_contract``);
* the ledger alone: ``Report.with_policies`` (a policy flip) and
  ``build_report`` over ready measurements.

Memberships carry the facts measurement needs (``clause_match.created``,
``worklog_seconds``, ``breached``; schema v4), so "cold" includes computing
them; ``check_consistency`` proves them against the source rows.

Targets: report < 100 ms, ledger < 5 ms.  Figures go in docs/reports.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cache.db import close_database, open_database  # noqa: E402
from cache.measure import check_consistency, measure_contract  # noqa: E402
from cache.membership import ensure_contract  # noqa: E402
from cache.models import Priority, Project  # noqa: E402
from cache.reports import contract_report  # noqa: E402
from cache.store import load_contract_with_revision, save_contract  # noqa: E402
from tickets.model import Clause, ClauseType, Contract, PeriodType  # noqa: E402
from tickets.periods import contract_periods  # noqa: E402
from tickets.report import build_report  # noqa: E402

H = 3600
KEYS = ["PA", "PB", "PC", "PD", "PE", "PF", "PG", "PH", "PI", "PJ"]
PRIOS = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
SLAS = [("customfield_10020", "Time to first response"), ("customfield_10021", "Time to resolution")]
AS_OF = dt.date(2025, 6, 15)

CONTRACT = Contract(
    name="Bench", start=dt.date(2021, 1, 1), end=dt.date(2025, 12, 31), time_zone="Europe/Istanbul",
    period_type=PeriodType.MONTHLY_CALENDAR, carry_over=True, borrowing=False,
    clauses=(
        Clause("PA tickets", ClauseType.ISSUE_COUNT, "project = PA", limit=300),
        Clause("PA urgent", ClauseType.ISSUE_COUNT, "project = PA AND priority >= High", limit=120),
        Clause("PA hours", ClauseType.SERVICE_HOURS, "project = PA", limit=500 * H),
        Clause("PA+PB hours", ClauseType.SERVICE_HOURS, "project in (PA, PB)", limit=900 * H),
        Clause("PA resolution", ClauseType.SLA_SUCCESS_RATE, "project = PA", sla=("Time to resolution",),
               target=Decimal(90)),
        Clause("PA both SLAs", ClauseType.SLA_SUCCESS_RATE, "project = PA",
               sla=("Time to first response", "Time to resolution"), target=Decimal(80)),
        Clause("PB tickets", ClauseType.ISSUE_COUNT, "project = PB", limit=None),
        Clause("PB hours", ClauseType.SERVICE_HOURS, "project = PB", limit=None),
        Clause("PA-PC tickets", ClauseType.ISSUE_COUNT, "project in (PA, PB, PC)", limit=1000),
        Clause("PA+PB response", ClauseType.SLA_SUCCESS_RATE, "project in (PA, PB)",
               sla=("Time to first response",), target=Decimal(95)),
    ),
)


def _ts(t: dt.datetime) -> str:
    return t.isoformat(sep=" ")


def build(db, n_issues: int, n_worklogs: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for i, k in enumerate(KEYS):
        Project.create(id=str(100 + i), key=k, name=f"Project {k}")
    for pos, (pid, name) in enumerate(PRIOS):
        Priority.create(id=pid, name=name, position=pos)
    t0 = dt.datetime(2020, 12, 1)
    span = int((dt.datetime(2026, 1, 31) - t0).total_seconds())
    created = sorted(t0 + dt.timedelta(seconds=rng.randrange(span)) for _ in range(n_issues))
    conn = db.connection()
    issues, slas = [], []
    for n, c in enumerate(created):
        iid = 10000 + n
        p = rng.randrange(len(KEYS))
        pr = rng.choice(PRIOS)
        issues.append((iid, f"{KEYS[p]}-{n}", str(100 + p), KEYS[p], pr[0], pr[1], _ts(c), _ts(c), "", 0, "{}",
                       _ts(c)))
        for fid, name in SLAS:
            slas.append((iid, fid, name, "completed", rng.random() < 0.18, False))
    with db.atomic():
        conn.executemany(
            "INSERT INTO issue (id, key, project_id, project_key, priority_id, priority_name, created, updated,"
            " summary, worklog_total, raw_fields, synced_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", issues)
        conn.executemany("INSERT INTO sla_cycle (issue_id, field_id, sla_name, kind, breached, paused)"
                         " VALUES (?,?,?,?,?,?)", slas)
        rows = []
        for w in range(n_worklogs):
            n = rng.randrange(n_issues)
            started = created[n] + dt.timedelta(days=rng.random() * 60)
            rows.append((w + 1, 10000 + n, _ts(started), 900 * rng.randint(1, 16), _ts(started)))
            if len(rows) == 100_000:
                conn.executemany("INSERT INTO worklog (id, issue_id, started, time_spent_seconds, updated)"
                                 " VALUES (?,?,?,?,?)", rows)
                rows = []
        if rows:
            conn.executemany("INSERT INTO worklog (id, issue_id, started, time_spent_seconds, updated)"
                             " VALUES (?,?,?,?,?)", rows)
    db.execute_sql("ANALYZE")


def timed(fn, runs: int) -> tuple[float, object]:
    out = None
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=200_000)
    ap.add_argument("--worklogs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--db", help="reuse/keep this SQLite file (built when empty)")
    args = ap.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="tb-bench-"), "bench.db")
    db = open_database(path)
    from cache.models import Issue

    if Issue.select().count() == 0:
        t = time.perf_counter()
        build(db, args.issues, args.worklogs)
        print(f"built {args.issues} issues, {args.worklogs} worklogs in {time.perf_counter() - t:.1f} s ({path})")
        save_contract(CONTRACT)
    cid, _rev, contract = load_contract_with_revision(CONTRACT.name)
    periods = contract_periods(contract)
    t = time.perf_counter()
    ensure_contract(cid, today=AS_OF)
    print(f"memberships (cold, local SQL): {(time.perf_counter() - t) * 1000:.0f} ms")
    from cache.models import ClauseMatch

    print(f"contract: {len(contract.clauses)} clauses, {len(periods)} periods, "
          f"{ClauseMatch.select().count()} clause matches")
    t = time.perf_counter()
    problems = check_consistency()
    print(f"membership facts consistent: {not problems} ({(time.perf_counter() - t) * 1000:.0f} ms to prove)")

    ms_report, report = timed(lambda: contract_report(CONTRACT.name, as_of=AS_OF), args.runs)
    ms_measure, measurements = timed(lambda: measure_contract(cid, contract, periods), args.runs)
    ms_flip, _ = timed(lambda: report.with_policies(carry_over=not report.carry_over, borrowing=True), args.runs * 5)
    ms_build, _ = timed(lambda: build_report(contract, measurements, as_of=AS_OF, synced_at=None, periods=periods),
                        args.runs * 5)
    print(f"report, memberships cached (median of {args.runs}): {ms_report:.1f} ms  (target < 100 ms)")
    print(f"  of which measuring SQL:                 {ms_measure:.1f} ms")
    print(f"ledger: with_policies flip:               {ms_flip:.2f} ms  (target < 5 ms)")
    print(f"ledger: build_report from measurements:   {ms_build:.2f} ms  (target < 5 ms)")
    close_database()
    return 0


if __name__ == "__main__":
    sys.exit(main())
