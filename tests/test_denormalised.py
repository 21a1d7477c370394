"""The facts ClauseMatch rows carry (created, worklog seconds, SLA failure) stay exact.

Measurement reads only ``clause_match`` (cache/measure.py), so its
denormalised columns must equal what the source rows say after every kind of
change a sync brings: worklogs added / changed / deleted (through the issue
pass and through the worklog feeds alone), SLA breaches, issue deletions; and
after the v3 -> v4 migration back-fills them.  Expected values come from the
simulated site's raw data, independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from tickets.model import Clause, ClauseType, Contract, PeriodType

UTC = dt.timezone.utc
NOW = "2026-06-01T09:00:00+00:00"
AS_OF = dt.date(2026, 5, 20)


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _site():
    from cache.fakejira import generate_site

    return generate_site(120, seed=5, now=NOW)


def _contract(raw: dict, sla_names: list[str]) -> Contract:
    desk = {sd["projectId"] for sd in raw["serviceDesks"]}
    keys = sorted(p["key"] for p in raw["projects"] if p["id"] in desk)
    return Contract(
        "Facts", dt.date(2023, 1, 1), dt.date(2026, 12, 31), "Europe/Istanbul", PeriodType.MONTHLY_CALENDAR,
        clauses=(
            Clause("All hours", ClauseType.SERVICE_HOURS, f"project in ({', '.join(keys)})", limit=None),
            Clause("First tickets", ClauseType.ISSUE_COUNT, f"project = {keys[0]}", limit=None),
            Clause("Both SLAs", ClauseType.SLA_SUCCESS_RATE, f"project in ({', '.join(keys)})",
                   sla=tuple(sla_names[:2])),
            Clause("One SLA", ClauseType.SLA_SUCCESS_RATE, f"project = {keys[-1]}", sla=tuple(sla_names[:1])),
        ))


def _expected_facts(raw: dict) -> dict[int, tuple[dt.datetime, int, set[str]]]:
    """Per issue id: (created naive UTC, worklog seconds, names of breached SLAs) from the raw site."""
    names = {f["id"]: f["name"] for f in raw["fields"]} if "fields" in raw else {}
    secs: dict[int, int] = {}
    for w in raw["worklogs"]:
        secs[w["issueId"]] = secs.get(w["issueId"], 0) + w["timeSpentSeconds"]
    out = {}
    for i in raw["issues"]:
        failed = set()
        for fid, v in (i.get("sla") or {}).items():
            if v is None:
                continue
            cycles = list(v["completedCycles"]) + ([v["ongoingCycle"]] if v["ongoingCycle"] else [])
            if any(c["breached"] for c in cycles):
                failed.add(names.get(fid, fid))
        created = dt.datetime.fromtimestamp(i["created"] / 1000, UTC).replace(tzinfo=None)
        out[i["id"]] = (created, secs.get(i["id"], 0), failed)
    return out


def _assert_facts(raw: dict) -> int:
    """Every ClauseMatch row's facts equal the site's; the consistency check agrees.  Returns rows checked."""
    from cache.measure import check_consistency
    from cache.models import Clause as ClauseRow
    from cache.models import ClauseMatch

    expected = _expected_facts(raw)
    sla_of = {c.id: set(c.sla or []) for c in ClauseRow.select()}
    n = 0
    for cid, iid, created, seconds, breached in ClauseMatch.select(
            ClauseMatch.clause, ClauseMatch.issue, ClauseMatch.created, ClauseMatch.worklog_seconds,
            ClauseMatch.breached).tuples():
        want_created, want_secs, failed = expected[iid]
        assert (created, seconds, bool(breached)) == (want_created, want_secs, bool(failed & sla_of[cid])), (cid, iid)
        n += 1
    assert check_consistency() == []
    return n


def _sla_names(site) -> list[str]:
    return sorted(f.name for f in site.sla_fields())


@pytest.fixture
def synced(db_url, backend):
    """Both backends (PostgreSQL when TICKETBOOK_TEST_PG_URL is set)."""
    from cache.db import close_database, open_database
    from cache.fakejira import FakeJira
    from cache.jira import JiraClient

    site = _site()
    db = open_database(db_url)
    with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
        yield {"site": site, "db": db, "client": client, "path": db_url, "backend": backend}
    close_database()


def _report(contract: Contract):
    from cache.reports import contract_report

    return contract_report(contract.name, as_of=AS_OF)


def test_facts_follow_worklog_feeds_sla_changes_and_deletions(synced) -> None:
    from cache.fakejira import SlaValue, site_to_dict
    from cache.fakejira.model import SlaCycle
    from cache.models import ClauseMatch, Issue
    from cache.store import import_contracts
    from cache.sync import run_sync

    site, db, client = synced["site"], synced["db"], synced["client"]
    assert run_sync(db, client).status == "ok"
    raw = site_to_dict(site)
    contract = _contract(raw, _sla_names(site))
    import_contracts([contract])
    _report(contract)  # evaluates the memberships
    assert _assert_facts(raw) > 100
    assert run_sync(db, client).status == "ok"  # nothing changed (the scope may now follow the contract)

    from cache.models import SlaCycle as CachedCycle

    # issues with an ongoing SLA cycle may be re-read by the sync's breach refresh: not "quiet"
    ticking = {i for (i,) in CachedCycle.select(CachedCycle.issue).where(CachedCycle.kind == "ongoing").tuples()}
    matched = sorted({iid for (iid,) in ClauseMatch.select(ClauseMatch.issue).tuples()} - ticking)
    for round_no in range(3):
        site.now = _ms(dt.datetime.fromisoformat(NOW) + dt.timedelta(hours=1 + round_no))
        quiet = matched[round_no * 6:round_no * 6 + 3]  # changed by the worklog feeds only
        loud = matched[round_no * 6 + 3:round_no * 6 + 6]  # re-read by the issue pass too
        before = {i: site.issues[i].updated for i in quiet}
        for iid in quiet + loud:
            issue = site.issues[iid]
            site.add_worklog(issue.key, seconds=1800 + 60 * round_no)
            wls = [site.worklogs[w] for w in issue.worklogIds]
            if len(wls) >= 2:
                site.update_worklog(wls[0].id, seconds=wls[0].timeSpentSeconds + 900)
                site.delete_worklog(wls[1].id)
        for iid, updated in before.items():  # Jira would bump the issue; pretend it did not
            site.issues[iid].updated = updated
        # an SLA breach and an issue deletion, seen by the issue pass and the reconciliation
        victim = site.issues[loud[0]]
        site.set_sla(victim.key, _sla_names(site)[0],
                     SlaValue(ongoing=SlaCycle(start=0, goal=1, elapsed=5, breached=True)))
        site.delete_issue(site.issues[matched[-1 - round_no]].key)
        site.advance(60)
        synced_at = {i: Issue.get_by_id(i).synced_at for i in quiet}
        assert run_sync(db, client).status == "ok"
        assert {i: Issue.get_by_id(i).synced_at for i in quiet} == synced_at  # the feeds did it alone
        raw = site_to_dict(site)
        _assert_facts(raw)
        # and the report measures those facts: hours of the matched issues created in the contract
        _report(contract)
        got = sum(m.seconds for m in _measure(contract)["All hours"])
        expected = _expected_facts(raw)
        lo, hi = dt.datetime(2022, 12, 31, 21), dt.datetime(2026, 12, 31, 21)  # Istanbul midnights, UTC
        hours_ids = [iid for (iid,) in ClauseMatch.select(ClauseMatch.issue)
                     .where(ClauseMatch.clause == _clause_id("All hours")).tuples()]
        assert got == sum(expected[i][1] for i in hours_ids if lo <= expected[i][0] < hi) > 0


def _measure(contract: Contract):
    from cache.measure import measure_contract
    from cache.store import load_contract_with_revision
    from tickets.periods import contract_periods

    cid, _rev, loaded = load_contract_with_revision(contract.name)
    return measure_contract(cid, loaded, contract_periods(loaded))


def _clause_id(name: str) -> int:
    from cache.models import Clause as ClauseRow

    return ClauseRow.get(ClauseRow.name == name).id


def test_v3_database_is_back_filled_by_the_migration(synced) -> None:
    from cache import migrations
    from cache.db import close_database, open_database
    from cache.fakejira import site_to_dict
    from cache.models import ClauseMatch
    from cache.store import import_contracts
    from cache.sync import run_sync

    site, db, client, path = synced["site"], synced["db"], synced["client"], synced["path"]
    assert run_sync(db, client).status == "ok"
    raw = site_to_dict(site)
    contract = _contract(raw, _sla_names(site))
    import_contracts([contract])
    _report(contract)
    before = sorted(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue, ClauseMatch.created,
                                       ClauseMatch.worklog_seconds, ClauseMatch.breached).tuples())
    assert any(r[3] for r in before) and any(r[4] for r in before)
    sqlite = synced["backend"] == "sqlite"
    fresh = _schema(path) if sqlite else None
    # make it the version-3 shape: clause_match(clause_id, issue_id) only (portable DDL)
    with db.atomic():
        db.execute_sql("DROP INDEX clause_match_clause_id_created_worklog_seconds_breached")
        for col in ("created", "worklog_seconds", "breached"):
            db.execute_sql(f"ALTER TABLE clause_match DROP COLUMN {col}")
        db.execute_sql("DROP INDEX worklog_issue_id_time_spent_seconds")
        db.execute_sql("CREATE INDEX worklog_issue_id ON worklog (issue_id)")
        db.execute_sql("DROP INDEX sla_cycle_issue_id_sla_name_breached")
        db.execute_sql("CREATE INDEX sla_cycle_issue_id_sla_name ON sla_cycle (issue_id, sla_name)")
        db.execute_sql("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    assert [c.name for c in db.get_columns("clause_match")] == ["clause_id", "issue_id"]
    close_database()
    upgraded = open_database(path)
    assert migrations.schema_version(upgraded) == migrations.LATEST
    after = sorted(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue, ClauseMatch.created,
                                      ClauseMatch.worklog_seconds, ClauseMatch.breached).tuples())
    assert after == before
    _assert_facts(raw)
    if sqlite:
        assert _schema(path) == fresh


def _schema(path) -> dict:
    """Columns and indexes of the tables step 4 changes (SQLite)."""
    con = sqlite3.connect(path)
    try:
        out = {}
        for table in ("clause_match", "worklog", "sla_cycle"):
            cols = [tuple(r[1:]) for r in con.execute(f'PRAGMA table_info("{table}")')]
            idx = {r[1]: (r[2], tuple(c[2] for c in con.execute(f'PRAGMA index_info("{r[1]}")')))
                   for r in con.execute(f'PRAGMA index_list("{table}")')}
            out[table] = {"columns": cols, "indexes": idx}
        return out
    finally:
        con.close()


def test_full_sync_leaves_consistent_facts(synced) -> None:
    from cache.fakejira import site_to_dict
    from cache.measure import check_consistency
    from cache.models import ClauseMatch
    from cache.store import import_contracts
    from cache.sync import run_sync

    site, db, client = synced["site"], synced["db"], synced["client"]
    assert run_sync(db, client).status == "ok"
    raw = site_to_dict(site)
    contract = _contract(raw, _sla_names(site))
    import_contracts([contract])
    _report(contract)
    assert run_sync(db, client, full=True).status == "ok"
    some = ClauseMatch.select(ClauseMatch.issue).limit(1).scalar()
    ClauseMatch.update(worklog_seconds=ClauseMatch.worklog_seconds + 7).where(ClauseMatch.issue == some).execute()
    assert check_consistency() and any(f"issue {some}:" in p for p in check_consistency())
    assert run_sync(db, client, full=True).status == "ok"
    assert check_consistency() == []  # re-stored issues get fresh facts; verify_facts checks what remains
    _assert_facts(site_to_dict(site))
