"""Benchmark: local JQL evaluation over a 200,000-issue SQLite cache (run on demand, not a test).

    .venv/bin/python benchmarks/bench_jql.py [--issues 200000] [--db PATH] [--keep]

Builds a synthetic cache with bulk inserts (seeded, so runs compare), then
for 10 typical clauses times: the compile, ``SELECT COUNT`` of the matches,
a full membership evaluation (``DELETE`` + ``INSERT ... SELECT`` into
clause_match), and the incremental update for one 200-issue sync page.
Figures go to stdout; docs/jql.md records a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import random
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cache import membership  # noqa: E402
from cache.db import close_database, open_database  # noqa: E402
from cache.jqlsql import JqlContext, compile_jql  # noqa: E402
from cache.models import (  # noqa: E402
    Clause, ClauseMatch, Contract, Issue, IssueType, JiraField, Meta, Organization, Priority, Project, Resolution,
    Status, StatusCategory,
)

CLAUSES = [
    ("project =", "project = P1"),
    ("priority >=", "priority >= High"),
    ("labels in", "labels in (l3, l7)"),
    ("created range", 'created >= "2024-03-01" AND created < "2024-04-01"'),
    ("organization", 'organizations = "Org 5"'),
    ("status category", "statusCategory != Done"),
    ("custom select", "Tier = Gold"),
    ("combo 1", "project = P2 AND priority >= High AND labels = l1"),
    ("combo 2", '(component = c1 OR organizations = "Org 2") AND resolution = Unresolved'),
    ("combo 3 (NOT)", 'NOT (labels = l1 AND "Hours Budget" > 50)'),
]


def build(n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    Meta.insert(key="jira_time_zone", value="Europe/Berlin").on_conflict_replace().execute()
    Project.insert_many([{"id": str(10000 + i), "key": f"P{i}", "name": f"Project {i}"} for i in range(10)]).execute()
    Priority.insert_many([{"id": str(i + 1), "name": nm, "position": i}
                          for i, nm in enumerate(["Highest", "High", "Medium", "Low", "Lowest"])]).execute()
    StatusCategory.insert_many([{"id": 2, "key": "new", "name": "To Do"},
                                {"id": 4, "key": "indeterminate", "name": "In Progress"},
                                {"id": 3, "key": "done", "name": "Done"}]).execute()
    statuses = [("1", "Open", "new"), ("3", "In Progress", "indeterminate"), ("10", "Done", "done")]
    Status.insert_many([{"id": i, "name": nm, "category_key": c} for i, nm, c in statuses]).execute()
    Resolution.insert_many([{"id": "1", "name": "Fixed"}]).execute()
    IssueType.insert_many([{"id": "100", "name": "Task"}]).execute()
    Organization.insert_many([{"id": str(i), "name": f"Org {i}"} for i in range(20)]).execute()
    JiraField.insert_many([
        {"id": "customfield_10100", "name": "Tier", "custom": True, "schema_type": "option", "custom_id": 10100},
        {"id": "customfield_10101", "name": "Hours Budget", "custom": True, "schema_type": "number",
         "custom_id": 10101},
    ]).execute()
    conn = Issue._meta.database.connection()
    start = dt.datetime(2024, 1, 1)
    issues, labels, comps, orgs, values = [], [], [], [], []
    for i in range(n):
        iid = 100000 + i
        p = rng.randrange(10)
        st = rng.choice(statuses)
        created = start + dt.timedelta(minutes=rng.randrange(525600))
        done = st[2] == "done"
        issues.append((iid, f"P{p}-{i + 1}", str(10000 + p), f"P{p}", "100", "Task", st[0], st[1], st[2],
                       rng.choice([None, "1", "2", "3", "4", "5"]), "1" if done else None,
                       created + dt.timedelta(days=2) if done else None, created, created + dt.timedelta(days=3),
                       "", "{}", created, 0))
        for lab in rng.sample(range(10), rng.randrange(4)):
            labels.append((iid, f"l{lab}"))
        for c in rng.sample(range(5), rng.randrange(3)):
            comps.append((iid, str(500 + c), f"c{c}"))
        if rng.random() < 0.7:
            o = rng.randrange(20)
            orgs.append((iid, str(o), f"Org {o}"))
        if rng.random() < 0.5:
            values.append((iid, "customfield_10100", rng.choice(["Gold", "Silver", "Bronze"]), None))
        if rng.random() < 0.5:
            h = rng.randrange(100)
            values.append((iid, "customfield_10101", str(h), h))
    with Issue._meta.database.atomic():
        # constant SQL text; every value is a bound parameter
        conn.executemany(
            "INSERT INTO issue (id, key, project_id, project_key, issuetype_id, issuetype_name, status_id,"
            " status_name, status_category_key, priority_id, resolution_id, resolution_date, created, updated,"
            " summary, raw_fields, synced_at, worklog_total) VALUES (" + ", ".join("?" * 18) + ")",
            [(a, b, c, d, e, f, g, h, i_, j, k, _iso(l_), _iso(m), _iso(n_), o, p_, _iso(q), r)
             for a, b, c, d, e, f, g, h, i_, j, k, l_, m, n_, o, p_, q, r in issues])
        conn.executemany("INSERT INTO issue_label (issue_id, label) VALUES (?, ?)", labels)
        conn.executemany("INSERT INTO issue_component (issue_id, component_id, name) VALUES (?, ?, ?)", comps)
        conn.executemany("INSERT INTO issue_organization (issue_id, organization_id, name) VALUES (?, ?, ?)", orgs)
        conn.executemany("INSERT INTO issue_field_value (issue_id, field_id, text, number) VALUES (?, ?, ?, ?)",
                         values)
    conn.execute("ANALYZE")


def _iso(value):
    return None if value is None else value.isoformat(" ")


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=200_000)
    ap.add_argument("--db", type=pathlib.Path)
    ap.add_argument("--keep", action="store_true", help="keep the database file")
    ns = ap.parse_args()
    tmp = None
    path = ns.db
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = pathlib.Path(tmp.name) / "bench.db"
    fresh = not path.exists()
    open_database(path)
    if fresh:
        t0 = time.perf_counter()
        build(ns.issues)
        print(f"built {ns.issues:,} issues in {time.perf_counter() - t0:.1f} s ({path})")
    total = Issue.select().count()
    now = dt.datetime.now(dt.timezone.utc)
    c = Contract.create(name="Bench", name_key=f"bench-{time.time()}", start=dt.date(2024, 1, 1),
                        end=dt.date(2024, 12, 31), time_zone="UTC", period_type="monthly",
                        created_at=now.replace(tzinfo=None), updated_at=now.replace(tzinfo=None))
    print(f"{total:,} issues; times in ms (best of 3)")
    print(f"{'clause':<18} {'matches':>8} {'compile':>8} {'count':>8} {'evaluate':>9} {'page':>7}  jql")
    page = [r[0] for r in Issue.select(Issue.id).order_by(pw_random()).limit(200).tuples()]
    for i, (label, jql) in enumerate(CLAUSES):
        clause = Clause.create(contract=c.id, position=i, name=label, type="issue_count", jql=jql)
        t_compile, expr = timed(lambda: compile_jql(jql, JqlContext.from_db(now=now)))
        t_count, n = timed(lambda: Issue.select(Issue.id).where(expr).count())
        ctx = JqlContext.from_db(now=now)
        t_eval, ev = timed(lambda: membership.evaluate_clause(clause.id, jql, ctx), repeat=1)
        assert ev.mode == "local", (jql, ev.error)
        assert ClauseMatch.select().where(ClauseMatch.clause == clause.id).count() == n
        page_ctx = JqlContext.from_db(now=now)
        page_ctx.correlated = True
        page_expr = compile_jql(jql, page_ctx)
        t_page, _ = timed(lambda: _page_update(clause.id, page_expr, page))
        print(f"{label:<18} {n:>8,} {t_compile:>8.1f} {t_count:>8.1f} {t_eval:>9.1f} {t_page:>7.1f}  {jql}")
    t_sync, _ = timed(lambda: membership.after_sync(page, [], today=None), repeat=1)
    print(f"after_sync of one 200-issue page against all {len(CLAUSES)} clauses: {t_sync:.1f} ms")
    Contract.delete().where(Contract.id == c.id).execute()
    close_database()
    if ns.keep:
        print(f"kept {path}")
    elif tmp is not None:
        tmp.cleanup()
    return 0


def pw_random():
    import peewee as pw
    return pw.fn.RANDOM()


def _page_update(clause_id: int, expr, page: list[int]) -> None:
    with Issue._meta.database.atomic():
        ClauseMatch.delete().where((ClauseMatch.clause == clause_id) & ClauseMatch.issue.in_(page)).execute()
        membership._insert_local(clause_id, expr, page)


if __name__ == "__main__":
    raise SystemExit(main())
