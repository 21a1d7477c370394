"""Clauses only Jira can evaluate stay fresh: a sync that dies after storing issues loses none of
them for the Jira re-match (``jira_recheck``), and relative dates evaluated by Jira move with the
clock.  Real HTTP against the simulated site, real SQLite files."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from cache import reports, store
from cache.db import close_database, open_database
from cache.fakejira import FakeJira, generate_site
from cache.jira import Cancelled, JiraClient, JiraError
from cache.membership import jira_match, time_dependent
from cache.models import ClauseEval, Issue, JiraRecheck
from cache.sync import run_sync
from tickets.model import Clause, ClauseType, Contract, PeriodType

NOW = "2026-06-01T09:00:00+00:00"


def _contract(name: str, jql: str) -> Contract:
    return Contract(name, dt.date(2020, 1, 1), dt.date(2027, 12, 31), "UTC", PeriodType.FIXED,
                    clauses=(Clause("c", ClauseType.ISSUE_COUNT, jql, limit=100),))


def _counted(name: str, as_of: dt.date) -> int:
    return reports.contract_report(name, as_of=as_of).clauses[0].rows[0].issues


@pytest.mark.parametrize("how", ["failed", "cancelled"])
def test_issues_of_a_sync_that_dies_after_the_issue_pass_are_rematched_by_jira(tmp_path, how) -> None:
    site = generate_site(60, seed=3, now=NOW)
    proj = site.projects[0].key
    jql = f'project = {proj} AND created != "2001-01-01 00:00"'  # "!=" on a date-time: only Jira
    db = open_database(tmp_path / "c.db")
    try:
        with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None,
                                              max_retries=0) as client:
            store.import_contracts([_contract("C", jql)])
            assert run_sync(db, client).status == "ok"
            assert ClauseEval.get().mode == "jira"
            before = _counted("C", dt.date(2026, 6, 1))
            assert JiraRecheck.select().count() == 0

            site.advance(120)
            new = site.create_issue(proj, summary="zzuniq request")
            site.advance(1200)
            site.update_issue(next(i for i in site.issues.values() if i.id != new.id).id, summary="touched")
            site.advance(60)

            # The run stores the new issue (cursor moves past it), then dies in the worklog feeds.
            cancel = threading.Event()

            def boom(*args, **kwargs):
                if how == "cancelled":
                    cancel.set()
                    raise Cancelled()
                raise JiraError("simulated outage")

            original = client.changed_worklogs
            client.changed_worklogs = boom
            try:
                if how == "failed":
                    with pytest.raises(JiraError):
                        run_sync(db, client)
                else:
                    assert run_sync(db, client, cancel=cancel).status == "cancelled"
            finally:
                client.changed_worklogs = original
                client.cancel = None
            assert Issue.get_or_none(Issue.id == new.id) is not None
            assert new.id in {i for (i,) in JiraRecheck.select(JiraRecheck.issue).tuples()}  # durable
            assert _counted("C", dt.date(2026, 6, 1)) == before  # not re-asked yet

            site.advance(3600)
            assert run_sync(db, client).status == "ok"  # fetches nothing new about that issue
            ids = [i for (i,) in Issue.select(Issue.id).tuples()]
            assert new.id in jira_match(client, jql, ids)
            assert _counted("C", dt.date(2026, 6, 1)) == len(jira_match(client, jql, ids)) == before + 1
            assert JiraRecheck.select().count() == 0  # consumed once the re-match succeeded
    finally:
        close_database()


def test_recheck_rows_survive_a_failed_rematch_and_vanish_with_their_issue(tmp_path) -> None:
    site = generate_site(30, seed=5, now=NOW)
    proj = site.projects[0].key
    jql = f'project = {proj} AND created != "2001-01-01 00:00"'
    db = open_database(tmp_path / "d.db")
    try:
        with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None,
                                              max_retries=0) as client:
            store.import_contracts([_contract("D", jql)])
            assert run_sync(db, client).status == "ok"
            site.advance(120)
            a = site.create_issue(proj, summary="first")
            b = site.create_issue(proj, summary="second")
            site.advance(600)

            original = client.jql_match

            def down(*args, **kwargs):
                raise JiraError("simulated outage")

            client.jql_match = down  # the issue pass succeeds, Jira's /jql/match does not
            try:
                run_sync(db, client)
            finally:
                client.jql_match = original
            marked = {i for (i,) in JiraRecheck.select(JiraRecheck.issue).tuples()}
            assert {a.id, b.id} <= marked

            site.delete_issue(a.id)
            site.advance(600)
            assert run_sync(db, client).status == "ok"
            assert Issue.get_or_none(Issue.id == a.id) is None
            assert JiraRecheck.select().count() == 0
            ids = [i for (i,) in Issue.select(Issue.id).tuples()]
            assert b.id in jira_match(client, jql, ids)
            assert _counted("D", dt.date(2026, 6, 1)) == len(jira_match(client, jql, ids))
    finally:
        close_database()


def test_relative_date_clause_evaluated_by_jira_refreshes_on_every_sync(tmp_path) -> None:
    site = generate_site(40, seed=3, now=NOW)
    jql = 'created >= -1d AND created != "2001-01-01 00:00"'
    db = open_database(tmp_path / "r.db")
    try:
        with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None,
                                              max_retries=0) as client:
            store.import_contracts([_contract("R", jql)])
            new = site.create_issue(site.projects[0].key, summary="new")
            for f in site.sla_fields():
                site.set_sla(new.id, f.id, None)
            site.advance(900)
            site.update_issue(next(i for i in site.issues.values() if i.id != new.id).id, summary="t")
            site.advance(60)
            assert run_sync(db, client).status == "ok"
            ev = ClauseEval.get()
            assert ev.mode == "jira"
            first_at = ev.evaluated_at
            assert _counted("R", dt.date(2026, 6, 1)) == 1

            site.advance(3 * 86400)  # the new issue ages out of "-1d"; nothing about it changes
            assert run_sync(db, client).status == "ok"
            ids = [i for (i,) in Issue.select(Issue.id).tuples()]
            assert len(jira_match(client, jql, ids)) == 0
            assert _counted("R", dt.date(2026, 6, 4)) == 0
            assert ClauseEval.get().evaluated_at >= first_at
    finally:
        close_database()


@pytest.mark.parametrize("jql, moves", [
    ('created >= -1d AND created != "2001-01-01 00:00"', True),
    ("created > startOfDay() AND summary ~ x", True),
    ('status WAS Open DURING ("2020-01-01", now())', True),
    ("status CHANGED AFTER -2w", True),
    ('NOT (updated < "-4w 2d") OR assignee in membersOf(x)', True),
    ('created != "2001-01-01 00:00"', False),
    ('summary ~ "-1d"', False),
    ("priority = 5 AND labels = x", False),
    ('assignee WAS x BY y AFTER "2024/01/01"', False),
    ("project = (", False),
])
def test_time_dependent_reads_the_query_tree(jql, moves) -> None:
    assert time_dependent(jql) is moves
