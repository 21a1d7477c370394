"""A clause only Jira can evaluate is settled by the next sync, and its report says so."""

from __future__ import annotations

import datetime as dt
import json

from cache.db import close_database, open_database
from cache.fakejira import FakeJira, generate_site
from cache.jira import JiraClient
from cache.models import Issue
from cache.sync import run_sync
from tickets.contractfile import parse_contract_file
from tui.cli import main


def _contract_file(project_key: str, created_ms: int) -> str:
    return json.dumps({"contracts": [{
        "name": "Sim", "start": "2020-01-01", "end": "2030-12-31", "time_zone": "UTC",
        "period_type": "fixed",
        "clauses": [
            {"name": "Local", "type": "issue_count", "jql": f"project = {project_key}", "unlimited": True},
            {"name": "By Jira", "type": "issue_count", "jql": f"created = {created_ms}", "unlimited": True},
            {"name": "Rejected", "type": "issue_count", "jql": "project = NOPE", "unlimited": True},
        ]}]})


def test_sync_evaluates_clauses_that_need_jira(tmp_path, monkeypatch, capsys) -> None:
    from cache import store

    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    site = generate_site(40, seed=11, now=now.isoformat())
    db_path = tmp_path / "t.db"

    def report_json() -> dict:
        assert main(["--db", str(db_path), "--as-of", "2026-06-01", "report", "Sim", "--format", "json"]) == 0
        return {c["name"]: c for c in json.loads(capsys.readouterr().out)["clauses"]}

    with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
        db = open_database(db_path)
        try:
            run_sync(db, client, now=now)
            issues = list(Issue.select().order_by(Issue.created))
            target = issues[len(issues) // 2]
            ms = int(target.created.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            store.import_contracts(parse_contract_file(_contract_file(issues[0].project_key, ms)))
        finally:
            close_database()

        # Before the next sync the Jira clause cannot have figures.
        before = report_json()
        assert before["Local"]["valid"] is True
        assert before["By Jira"]["valid"] is False and "Jira" in before["By Jira"]["error"]

        db = open_database(db_path)
        try:
            run_sync(db, client, now=now)
        finally:
            close_database()

    after = report_json()
    assert after["By Jira"]["valid"] is True
    assert after["By Jira"]["evaluated_by"].startswith("jira at ")
    assert after["By Jira"]["periods"][0]["issues"] == 1  # exactly the issue created at that instant
    assert after["Rejected"]["valid"] is False and "NOPE" in after["Rejected"]["error"]
    assert main(["--db", str(db_path), "--as-of", "2026-06-01", "report", "Sim"]) == 0
    assert "evaluated by jira at" in capsys.readouterr().out.lower()
