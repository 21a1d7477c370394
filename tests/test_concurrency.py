"""Team mode under load: several processes on one database, on SQLite (WAL) and PostgreSQL.

For :data:`DURATION` seconds (20 by default), on one fresh database:

* two **writer** processes (two leads in the contract editor) each loop: load
  the shared contract with its revision, "edit" for a moment, add an amend whose
  note is a unique token (and sometimes change a clause's JQL), save with
  ``expected_revision``; a few saves go to a contract of their own.  Each attempt
  is logged to a file: committed (with the new revision) or conflict;
* one **sync** process syncs the simulated Jira site again and again, with
  mutations of the site in between (each page one transaction; memberships kept
  up to date inside it);
* one **reader** process (a TUI session) computes reports and lists contracts.

Afterwards: every committed token is in the contract exactly once, no
conflicting token is, the revision counts the commits, conflicts happened and
were each reported to their writer, no process saw any other error (no
"database is locked", no deadlock, no foreign-key failure), every sync finished
``ok`` and the cache equals the site.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import random
import subprocess
import sys
import time
import traceback

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DURATION = float(os.environ.get("TICKETBOOK_TEST_CONCURRENCY_SECONDS", "20"))
SHARED = "Shared contract"
AMEND_DATE = dt.date(2025, 6, 1)
JQLS = ("project = SUP", "project in (SUP, HD)", "priority >= High", "project = SUP AND priority = High")
NOW = "2026-06-01T09:00:00+00:00"


def _contract(name: str):
    from tickets.model import Clause, ClauseType, Contract, PeriodType, Portal

    return Contract(
        name=name, start=dt.date(2023, 1, 1), end=dt.date(2026, 12, 31), time_zone="Europe/Istanbul",
        period_type=PeriodType.MONTHLY_CALENDAR, carry_over=True, borrowing=False,
        clauses=(Clause(name="Tickets", type=ClauseType.ISSUE_COUNT, jql=JQLS[0], limit=10),
                 Clause(name="Hours", type=ClauseType.SERVICE_HOURS, jql="project in (SUP, HD)", limit=360_000),
                 Clause(name="Urgent", type=ClauseType.ISSUE_COUNT, jql="priority >= High", limit=None)),
        portal=Portal(help_center=True),
    )


# --------------------------------------------------------------------------- the child processes


class _Log:
    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8", buffering=1)

    def __call__(self, **entry) -> None:
        entry.setdefault("t", round(time.monotonic(), 3))
        self.fh.write(json.dumps(entry, sort_keys=True) + "\n")
        self.fh.flush()


def writer(url: str, log_path: str, deadline: float, seed: int) -> None:
    from cache import store
    from cache.db import open_database
    from tickets.model import Amend, AmendKind

    log = _Log(log_path)
    rng = random.Random(seed)
    open_database(url)
    n = 0
    while time.time() < deadline:
        n += 1
        token = f"w{seed}-{n}"
        own = rng.random() < 0.15
        name = f"Own {seed}" if own else SHARED
        try:
            _cid, rev, c = store.load_contract_with_revision(name)
            time.sleep(rng.uniform(0, 0.03))  # the lead edits
            first = c.clauses[0]
            jql = rng.choice(JQLS) if rng.random() < 0.3 else first.jql
            first = dataclasses.replace(first, jql=jql, amends=first.amends + (
                Amend(AMEND_DATE, AmendKind.CONSUMPTION, 1, token),))
            edited = dataclasses.replace(c, clauses=(first,) + c.clauses[1:])
            new_rev = store.save_contract(edited, expected_revision=rev)
        except store.ConflictError as exc:
            log(role="writer", writer=seed, token=token, contract=name, result="conflict", message=str(exc))
        except Exception as exc:  # anything else reaching the "user" is a failure of the test
            log(role="writer", writer=seed, token=token, contract=name, result="error",
                message=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
        else:
            log(role="writer", writer=seed, token=token, contract=name, result="ok", revision=new_rev,
                loaded=rev)


def syncer(url: str, log_path: str, deadline: float, seed: int) -> None:
    from cache.db import open_database
    from cache.fakejira import FakeJira, generate_site
    from cache.jira import JiraClient
    from cache.sync import run_sync
    from test_sync import assert_cache_matches, mutate

    log = _Log(log_path)
    rng = random.Random(seed)
    site = generate_site(150, seed=seed, now=NOW)
    db = open_database(url)
    with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
        rounds = 0
        while True:
            rounds += 1
            try:
                result = run_sync(db, client, full=rounds % 4 == 0)
            except Exception as exc:
                log(role="sync", result="error", message=f"{type(exc).__name__}: {exc}",
                    trace=traceback.format_exc())
            else:
                log(role="sync", result=result.status, full=result.full, issues=result.issues_upserted)
            if time.time() >= deadline:
                break
            mutate(site, rng, n=15)
            site.advance(120)
        try:
            assert_cache_matches(site)
        except AssertionError as exc:
            log(role="sync", result="error", message=f"cache differs after the last sync: {exc}")
        else:
            log(role="sync", result="converged")


def reader(url: str, log_path: str, deadline: float, seed: int) -> None:
    from cache import store
    from cache.db import open_database
    from cache.reports import contract_report
    from tickets.report import report_to_json

    log = _Log(log_path)
    open_database(url)
    n = 0
    while time.time() < deadline:
        n += 1
        try:
            names = [r.name for r in store.list_contracts()]
            report = contract_report(SHARED, as_of=dt.date(2026, 5, 20))
            json.loads(report_to_json(report))
        except Exception as exc:
            log(role="reader", result="error", message=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
        else:
            log(role="reader", result="ok", contracts=len(names))
        time.sleep(0.05)


ROLES = {"writer": writer, "sync": syncer, "reader": reader}


# --------------------------------------------------------------------------- the test


def _spawn(role: str, url: str, log_path: pathlib.Path, deadline: float, seed: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBOOK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.Popen(
        [sys.executable, str(pathlib.Path(__file__)), role, url, str(log_path), repr(deadline), str(seed)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_writers_a_sync_and_a_reader_for_twenty_seconds(db_url, tmp_path) -> None:
    from cache import store
    from cache.db import close_database, open_database
    from cache.models import ClauseEval

    open_database(db_url)
    store.import_contracts([_contract(SHARED), _contract("Own 1"), _contract("Own 2")])
    close_database()

    log_path = tmp_path / "attempts.jsonl"
    start = time.time()
    deadline = start + DURATION + 2  # + start-up time of the children
    procs = [_spawn("sync", db_url, log_path, deadline, 5),
             _spawn("writer", db_url, log_path, deadline, 1),
             _spawn("writer", db_url, log_path, deadline, 2),
             _spawn("reader", db_url, log_path, deadline, 3)]
    outputs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=DURATION + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        outputs.append((p.args[2], p.returncode, out))
    elapsed = time.time() - start
    assert elapsed >= DURATION, elapsed
    for role, code, out in outputs:
        assert code == 0, f"{role} exited {code}:\n{out}"
        assert "locked" not in out and "Traceback" not in out, f"{role}:\n{out}"

    entries = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    errors = [e for e in entries if e["result"] == "error"]
    kinds: dict[str, int] = {}
    for e in errors:
        kinds[f"{e['role']}: {e['message']}"] = kinds.get(f"{e['role']}: {e['message']}", 0) + 1
    assert not errors, "\n".join([f"{n} x {k}" for k, n in kinds.items()] + [e.get("trace", "") for e in errors[:3]])

    writes = [e for e in entries if e["role"] == "writer"]
    syncs = [e for e in entries if e["role"] == "sync"]
    reads = [e for e in entries if e["role"] == "reader"]
    stats = {"commits": sum(e["result"] == "ok" for e in writes),
             "conflicts": sum(e["result"] == "conflict" for e in writes),
             "syncs": sum(e["result"] == "ok" for e in syncs), "reports": len(reads), "seconds": round(elapsed, 1)}
    print(f"concurrency on {'postgresql' if db_url.startswith('postgres') else 'sqlite'}: {stats}")
    assert [e["result"] for e in syncs][-1] == "converged"
    assert sum(e["result"] == "ok" for e in syncs) >= 2, syncs
    assert len(reads) >= 5 and all(e["result"] == "ok" for e in reads)

    open_database(db_url)
    try:
        for name in (SHARED, "Own 1", "Own 2"):
            mine = [e for e in writes if e["contract"] == name]
            committed = [e for e in mine if e["result"] == "ok"]
            conflicts = [e for e in mine if e["result"] == "conflict"]
            assert len(committed) + len(conflicts) == len(mine)
            _cid, revision, contract = store.load_contract_with_revision(name)
            tokens = [a.notes for a in contract.clauses[0].amends]
            # every committed change is present exactly once; no conflicting one is
            assert sorted(tokens) == sorted(e["token"] for e in committed), name
            assert len(set(tokens)) == len(tokens)
            # one revision per commit, each handed out once, each built on the one before it
            assert revision == 1 + len(committed)
            assert sorted(e["revision"] for e in committed) == list(range(2, revision + 1))
            assert all(e["revision"] == e["loaded"] + 1 for e in committed)
            assert all("changed by someone else" in e["message"] for e in conflicts)
        shared = [e for e in writes if e["contract"] == SHARED]
        by_writer = {w: [e for e in shared if e["writer"] == w] for w in (1, 2)}
        for w, mine in by_writer.items():
            assert sum(e["result"] == "ok" for e in mine) >= 5, f"writer {w} hardly committed: {len(mine)} tries"
        assert sum(e["result"] == "conflict" for e in shared) >= 1, "the writers never collided"
        # the derived memberships are still consistent: re-evaluating from scratch changes nothing
        from cache import membership
        from cache.models import ClauseMatch

        membership.ensure_all(today=dt.date(2026, 5, 20))
        before = set(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue).tuples())
        ClauseMatch.delete().execute()
        ClauseEval.delete().execute()
        membership.ensure_all(today=dt.date(2026, 5, 20))
        assert set(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue).tuples()) == before
    finally:
        close_database()


def _open_in_processes(url: str, n: int) -> list[tuple[int, str]]:
    code = "import sys; from cache.db import open_database; open_database(sys.argv[1]); print('opened')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBOOK_")}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(n)]
    return [(p.wait(timeout=120), p.stdout.read()) for p in procs]


def test_several_sessions_opening_a_new_database_at_once(db_url) -> None:
    """The first opens of a team's new database race to create the schema: all succeed, once."""
    results = _open_in_processes(db_url, 5)
    assert all(code == 0 and "opened" in out for code, out in results), results
    from cache import migrations
    from cache.db import close_database, open_database

    db = open_database(db_url)
    try:
        assert migrations.schema_version(db) == migrations.LATEST
    finally:
        close_database()


def test_several_sessions_upgrading_an_old_database_at_once(db_url) -> None:
    """After a TicketBook upgrade every lead's session opens the old database: each step runs once."""
    from cache import migrations
    from cache.db import close_database, open_database

    db = open_database(db_url)
    for sql in ('DROP TABLE clause_match', 'DROP TABLE clause_eval',
                'CREATE TABLE clause_eval (x INTEGER)', 'DROP TABLE clause_eval'):
        db.execute_sql(sql)
    db.execute_sql("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    close_database()
    results = _open_in_processes(db_url, 5)
    assert all(code == 0 and "opened" in out for code, out in results), results
    db = open_database(db_url)
    try:
        assert migrations.schema_version(db) == migrations.LATEST
        assert {"clause_eval", "clause_match"} <= set(db.get_tables())
    finally:
        close_database()


if __name__ == "__main__":  # a child process: ROLE URL LOG DEADLINE SEED
    role, url, log_file, deadline_text, seed_text = sys.argv[1:6]
    ROLES[role](url, log_file, float(deadline_text), int(seed_text))
