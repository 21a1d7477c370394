"""SQLite and PostgreSQL give the same answers, byte for byte.

The same simulated site (the reports end-to-end dataset, tests/test_reports_e2e.py)
is synced over real HTTP into a fresh SQLite file and a fresh PostgreSQL
database, the same contracts are imported, and then, on each backend:

* every contract's report JSON (``tickets.report.report_to_json``) under all four
  carry-over / borrowing policies, the ``summary`` JSON and an issue view;
* the clause memberships (clause name -> issue keys) and a dump of the cache;

before and after an incremental sync of new, changed, moved and deleted issues.
The report JSON must be byte-identical between the backends, and on PostgreSQL
the figures must also equal the end-to-end test's independent expectations.
Skipped (with a reason) when TICKETBOOK_TEST_PG_URL is not set.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

import test_reports_e2e as e2e
from conftest import PG_SKIP_REASON, PG_URL, fresh_database, reset_database_proxy

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=PG_SKIP_REASON)]

FIRST_SYNC = dt.datetime(2026, 6, 1, 9, 5, tzinfo=dt.timezone.utc)
SECOND_SYNC = dt.datetime(2026, 6, 1, 10, 30, tzinfo=dt.timezone.utc)
POLICIES = [(False, False), (True, False), (False, True), (True, True)]


def _plain(value):
    """Row values as backend-neutral JSON-able text (bool/int/Decimal/datetime)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return repr(value)


def _cache_dump(base_url: str) -> dict[str, list]:
    """Every synced row, backend-neutral; the simulated server's URL (its port) made neutral."""
    from cache.models import (
        Issue, IssueComponent, IssueFieldValue, IssueLabel, IssueOrganization, Organization, OrganizationUser,
        SlaCycle, Worklog,
    )

    out = {}
    for model, key in [(Issue, None), (Worklog, None), (SlaCycle, None), (IssueLabel, None),
                       (IssueComponent, None), (IssueOrganization, None), (IssueFieldValue, None),
                       (Organization, None), (OrganizationUser, None)]:
        fields = [f for f in model._meta.sorted_fields if f.name != "synced_at"]
        if model not in (Issue, Worklog, Organization):  # surrogate ids depend on insert order only
            fields = [f for f in fields if f.name != "id"]
        rows = sorted(json.dumps([_plain(v) for v in row]).replace(base_url, "BASE")
                      for row in model.select(*fields).tuples())
        out[model._meta.table_name] = rows
    return out


def _memberships() -> dict[str, list[str]]:
    from cache.models import Clause, ClauseMatch, Contract, Issue

    rows = (ClauseMatch.select(Contract.name, Clause.name, Issue.key)
            .join(Clause).join(Contract).switch(ClauseMatch).join(Issue).tuples())
    out: dict[str, list[str]] = {}
    for contract, clause, key in rows:
        out.setdefault(f"{contract} / {clause}", []).append(key)
    return {k: sorted(v) for k, v in sorted(out.items())}


def _outputs(site, base_url: str) -> dict:
    """Everything a user could read, as text: reports, summaries, issue views, memberships, cache."""
    from cache.fakejira import site_to_dict
    from cache.reports import contract_report, contract_summary, issue_view
    from tickets.report import report_to_json

    raw = site_to_dict(site)
    boundary = sorted(i["key"] for i in raw["issues"] if i["summary"].startswith("boundary "))
    out = {"reports": {}, "summaries": {}, "views": {}}
    for c in e2e.CONTRACTS:
        for co, bo in POLICIES:
            report = contract_report(c.name, as_of=e2e.AS_OF, carry_over=co, borrowing=bo)
            out["reports"][f"{c.name} co={co} bo={bo}"] = report_to_json(report)
        out["summaries"][c.name] = json.dumps(contract_summary(c.name, e2e.AS_OF), sort_keys=True, default=str)
    for key in boundary[::5]:
        out["views"][key] = json.dumps(issue_view(key, e2e.AS_OF), sort_keys=True, default=str)
    out["memberships"] = _memberships()
    out["cache"] = _cache_dump(base_url)
    out["raw"] = raw
    return out


def _cli_outputs(url: str) -> dict[str, str]:
    """What the CLI prints on this database (it opens ``--db`` itself)."""
    import contextlib
    import io

    from tui.cli import main

    out = {}
    commands = [["contracts", "list"], ["contracts", "export"], ["jql", "match", "project in (SUP, HD) AND priority >= High"]]
    for c in e2e.CONTRACTS[:2]:
        commands += [["report", c.name, "--format", "json"], ["report", c.name, "--format", "csv"],
                     ["summary", c.name]]
    for args in commands:
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            code = main(["--db", url, "--as-of", e2e.AS_OF.isoformat(), *args])
        out[" ".join(args)] = f"exit {code}\n{buf.getvalue()}{err.getvalue()}"
    return out


def _mutate(site) -> None:
    """New, changed, moved and deleted issues, an hour after the site's "now"."""
    from cache.fakejira import site_to_dict

    site.now = e2e._ms(dt.datetime.fromisoformat(e2e.NOW) + dt.timedelta(hours=1))
    raw = site_to_dict(site)
    lo, hi = e2e._ms(dt.datetime(2025, 2, 1, tzinfo=e2e.UTC)), e2e._ms(dt.datetime(2026, 5, 1, tzinfo=e2e.UTC))
    in_contract = [i for i in raw["issues"] if lo <= i["created"] < hi]
    sup = [i for i in in_contract if i["projectId"] == 10000]
    hd = [i for i in in_contract if i["projectId"] == 10001]
    site.create_issue("SUP", summary="new after the first sync", priority="Highest")
    site.create_issue("HD", summary="another new one")
    site.add_worklog(sup[0]["key"], seconds=7 * 3600, started=e2e._ms(dt.datetime(2026, 5, 31, tzinfo=e2e.UTC)))
    site.move_issue(sup[1]["key"], "OPS")
    site.delete_issue(hd[0]["key"])
    site.advance(60)


def _run(backend: str, directory) -> list[dict]:
    """Outputs after the first and after an incremental sync, on one backend (its own site copy)."""
    from cache.db import close_database, open_database
    from cache.fakejira import FakeJira
    from cache.jira import JiraClient
    from cache.store import import_contracts
    from cache.sync import run_sync

    site = e2e._build_site()  # deterministic: each backend gets an identical site
    stages = []
    with fresh_database(backend, directory) as url:
        db = open_database(url)
        try:
            with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
                assert run_sync(db, client, now=FIRST_SYNC).status == "ok"
                import_contracts(e2e.CONTRACTS)
                stages.append(_outputs(site, fj.url))
                stages[-1]["cli"] = _cli_outputs(url)
                db = open_database(url)  # the CLI closed the shared handle
                _mutate(site)
                result = run_sync(db, client, now=SECOND_SYNC)
                assert result.status == "ok" and not result.full
                stages.append(_outputs(site, fj.url))
                stages[-1]["cli"] = _cli_outputs(url)
        finally:
            close_database()
            reset_database_proxy()
    return stages


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return {backend: _run(backend, tmp_path_factory.mktemp(backend)) for backend in ("sqlite", "postgres")}


@pytest.mark.parametrize("stage", [0, 1], ids=["first-sync", "after-incremental-sync"])
def test_report_json_is_byte_identical(both, stage) -> None:
    lite, pg = both["sqlite"][stage], both["postgres"][stage]
    # the same dataset went in (the site block only differs by the server's port)
    assert {k: v for k, v in lite["raw"].items() if k != "site"} == {k: v for k, v in pg["raw"].items() if k != "site"}
    assert len(lite["reports"]) == len(e2e.CONTRACTS) * len(POLICIES)
    for name, text in lite["reports"].items():
        assert pg["reports"][name] == text, name  # byte-identical
    assert pg["summaries"] == lite["summaries"]
    assert pg["views"] == lite["views"] and lite["views"]
    assert pg["cli"] == lite["cli"]  # the CLI prints the same, byte for byte
    assert all(text.startswith("exit 0\n") for text in lite["cli"].values()), lite["cli"]
    for c in e2e.CONTRACTS[:2]:  # `report --format json` is the report JSON
        assert json.loads(lite["cli"][f"report {c.name} --format json"].split("\n", 1)[1]) == \
            json.loads(lite["reports"][f"{c.name} co={c.carry_over} bo={c.borrowing}"])


@pytest.mark.parametrize("stage", [0, 1], ids=["first-sync", "after-incremental-sync"])
def test_cache_and_memberships_are_identical(both, stage) -> None:
    lite, pg = both["sqlite"][stage], both["postgres"][stage]
    assert lite["memberships"] and pg["memberships"] == lite["memberships"]
    for table, rows in lite["cache"].items():
        assert rows, table
        assert pg["cache"][table] == rows, table


@pytest.mark.parametrize("stage", [0, 1], ids=["first-sync", "after-incremental-sync"])
def test_postgresql_reports_equal_the_independent_figures(both, stage) -> None:
    """The end-to-end expectations (computed from the site with plain Python) hold on PostgreSQL too."""
    pg = both["postgres"][stage]
    issues = e2e.site_issues(pg["raw"])
    for c in e2e.CONTRACTS:
        for co, bo in POLICIES:
            actual = json.loads(pg["reports"][f"{c.name} co={co} bo={bo}"])
            expected = e2e.expected_report(c, issues, co, bo)
            assert not e2e._diffs(actual, expected), (c.name, co, bo, e2e._diffs(actual, expected))


def test_the_incremental_sync_moved_figures(both) -> None:
    first, second = both["postgres"]
    assert first["reports"] != second["reports"]
    assert first["memberships"] != second["memberships"]
