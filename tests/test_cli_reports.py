"""`ticketbook report | summary | issue` and the `contracts list` status, on a hand-built cache.

Contracts go in through `ticketbook contracts import`; the Jira part of the
cache is inserted directly (a real SQLite file).  Figures are worked out by
hand in the comments.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from tui.cli import main

CONTRACT_FILE = {"contracts": [{
    "name": "Acme", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "Europe/Istanbul",
    "period_type": "monthly_calendar", "carry_over": False, "borrowing": False,
    "clauses": [
        {"name": "Tickets", "type": "issue_count", "jql": "project = ABC", "limit": 2,
         "amends": [{"date": "2025-02-01", "kind": "limit", "value": 1, "notes": "Extra ticket for February"},
                    {"date": "2024-12-01", "kind": "consumption", "value": -1, "notes": "before the start"}]},
        {"name": "Hours", "type": "service_hours", "jql": "project = ABC", "limit": 5},
        {"name": "SLA", "type": "sla_success_rate", "jql": "project = ABC", "sla": ["Time to resolution"],
         "target": 90},
        {"name": "Broken", "type": "issue_count", "jql": "project = = ABC", "limit": 1},
    ],
    "portal": {"help_center": True, "users": ["u1"]},
}]}
AS_OF = "2025-03-10"  # current period: March (index 2)
TOP_KEYS = ["contract", "as_of", "synced_at", "periods", "current_period", "clauses"]
QUOTA_KEYS = ["index", "limit", "limit_amends", "carried_in", "debt_in", "available", "consumed",
              "consumption_amends", "total_used", "remaining", "carried_out", "debt_out", "over", "status",
              "issues", "notes"]


@pytest.fixture
def db_path(tmp_path, capsys):
    from cache.db import close_database, open_database
    from cache.models import Issue, Project, SlaCycle, Worklog

    path = str(tmp_path / "cli.db")
    f = tmp_path / "contracts.json"
    f.write_text(json.dumps(CONTRACT_FILE))
    assert main(["contracts", "import", str(f), "--db", path]) == 0
    open_database(path)
    Project.create(id="10", key="ABC", name="ABC")
    Project.create(id="11", key="XYZ", name="XYZ")

    def issue(iid, created_local_istanbul: str, project="ABC"):
        local = dt.datetime.fromisoformat(created_local_istanbul)
        naive_utc = local - dt.timedelta(hours=3)  # Istanbul is UTC+3 all year
        Issue.create(id=iid, key=f"{project}-{iid}", project_id="10" if project == "ABC" else "11",
                     project_key=project, created=naive_utc, updated=naive_utc, synced_at=naive_utc,
                     summary=f"issue {iid}")

    # January: 3 tickets (limit 2 -> over by 1); February: 2 (limit 2 + 1 amend)
    issue(1, "2025-01-01T00:30:00")  # 2024-12-31 21:30 UTC, still January in Istanbul
    issue(2, "2025-01-15T10:00:00")
    issue(3, "2025-01-31T23:59:00")
    issue(4, "2025-02-03T09:00:00")
    issue(5, "2025-02-28T12:00:00")
    # March: 2 tickets (2 of 2: at risk), 3 h + 1.5 h (4.5 of 5 h: at risk), one SLA breached (50% < 90%: over)
    issue(6, "2025-03-02T09:00:00")
    issue(7, "2025-03-05T09:00:00")
    issue(8, "2025-03-06T09:00:00", project="XYZ")  # not matched
    Worklog.create(id=1, issue=6, started=dt.datetime(2025, 3, 2, 8), time_spent_seconds=3 * 3600,
                   updated=dt.datetime(2025, 3, 2, 9))
    Worklog.create(id=2, issue=7, started=dt.datetime(2025, 4, 20, 8), time_spent_seconds=5400,  # logged in April
                   updated=dt.datetime(2025, 4, 20, 9))
    Worklog.create(id=3, issue=8, started=dt.datetime(2025, 3, 6, 8), time_spent_seconds=7200,
                   updated=dt.datetime(2025, 3, 6, 9))
    SlaCycle.create(issue=6, field_id="customfield_10021", sla_name="Time to resolution", kind="completed",
                    breached=True)
    SlaCycle.create(issue=7, field_id="customfield_10021", sla_name="Time to resolution", kind="ongoing",
                    breached=False)
    close_database()
    capsys.readouterr()
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _stored(path):
    from cache.db import close_database, open_database
    from cache.store import load_contract_with_revision

    open_database(path)
    try:
        return load_contract_with_revision("Acme")
    finally:
        close_database()


def test_report_json_shape_and_figures(db_path, capsys) -> None:
    code, out, err = run(capsys, "report", "Acme", "--format", "json", "--db", db_path, "--as-of", AS_OF)
    assert code == 0
    data = json.loads(out)
    assert list(data)[:6] == TOP_KEYS
    assert data["synced_at"] is None and "never synced" in err
    assert data["current_period"] == 2 and len(data["periods"]) == 12
    tickets, hours, sla, broken = data["clauses"]
    assert list(tickets)[:9] == ["name", "type", "jql", "limited", "limit", "valid", "error", "periods",
                                 "outside_contract_amends"]
    assert [list(p)[:len(QUOTA_KEYS)] for p in tickets["periods"]] == [QUOTA_KEYS] * 12
    assert [p["consumed"] for p in tickets["periods"][:4]] == [3, 2, 2, 0]
    assert [p["over"] for p in tickets["periods"][:3]] == [1, 0, 0]
    feb = tickets["periods"][1]
    assert feb["limit_amends"] == 1 and feb["notes"] == ["Extra ticket for February"]
    assert tickets["outside_contract_amends"] == [{"date": "2024-12-01", "kind": "consumption", "value": -1,
                                                   "notes": "before the start"}]
    assert hours["limit"] == 5 and hours["periods"][2]["consumed"] == 4.5 and hours["periods"][2]["remaining"] == 0.5
    assert list(sla)[:8] == ["name", "type", "jql", "sla", "target", "valid", "error", "periods"]
    assert sla["periods"][2] == {**sla["periods"][2], "issues": 2, "breached": 1, "rate": 50, "status": "fail"}
    assert sla["periods"][0]["rate"] is not None and sla["periods"][4]["rate"] is None
    assert broken["valid"] is False and broken["error"]
    assert all(p["consumed"] is None and p["status"] is None for p in broken["periods"])


def test_policy_previews_never_change_the_stored_contract(db_path, capsys) -> None:
    before = _stored(db_path)
    seen = set()
    for co in ("--carry-over", "--no-carry-over"):
        for bo in ("--borrowing", "--no-borrowing"):
            code, out, _ = run(capsys, "report", "Acme", "--format", "json", co, bo, "--db", db_path,
                               "--as-of", AS_OF)
            assert code == 0
            data = json.loads(out)
            assert (data["contract"]["carry_over"], data["contract"]["borrowing"]) == (co == "--carry-over",
                                                                                       bo == "--borrowing")
            seen.add(json.dumps(data["clauses"][0]["periods"]))
            assert _stored(db_path) == before  # same row id, revision and contract
    assert len(seen) > 1  # the previews did change figures
    # January over by 1 borrows from later periods when borrowing is on
    code, out, _ = run(capsys, "report", "Acme", "--format", "json", "--borrowing", "--db", db_path,
                       "--as-of", AS_OF)
    jan = json.loads(out)["clauses"][0]["periods"][0]
    assert (jan["over"], jan["debt_out"], jan["status"]) == (0, 1, "success")


def test_report_table_fits_80_columns_and_shows_everything(db_path, capsys) -> None:
    code, out, err = run(capsys, "report", "Acme", "--db", db_path, "--as-of", AS_OF)
    assert code == 0 and "never synced" in err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "synced never" in out
    march = [line for line in lines if "2025-03-01..2025-03-31" in line]
    assert march and all(line.startswith(">") for line in march)
    december = [line for line in lines if "2025-12-01..2025-12-31" in line]
    assert december and all("—" in line for line in december)
    assert "note: Extra ticket for February" in out
    assert "outside the contract: 2024-12-01 consumption -1" in out
    assert "invalid:" in out  # the Broken clause shows its reason
    assert "FAIL" in out  # January over / March SLA


def test_report_csv_one_row_per_clause_and_period(db_path, capsys) -> None:
    code, out, _ = run(capsys, "report", "Acme", "--format", "csv", "--db", db_path, "--as-of", AS_OF)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 * 12
    hours_march = next(r for r in rows if r["clause"] == "Hours" and r["index"] == "2")
    assert (hours_march["consumed"], hours_march["remaining"], hours_march["current"]) == ("4.5", "0.5", "true")
    sla_march = next(r for r in rows if r["clause"] == "SLA" and r["index"] == "2")
    assert (sla_march["rate"], sla_march["target"], sla_march["status"]) == ("50", "90", "fail")


def test_synced_database_has_synced_at_and_no_note(db_path, capsys) -> None:
    from cache.db import close_database, open_database
    from cache.models import SyncLog

    open_database(db_path)
    SyncLog.create(started=dt.datetime(2025, 3, 10, 7, 59), finished=dt.datetime(2025, 3, 10, 8, 0), status="ok")
    SyncLog.create(started=dt.datetime(2025, 3, 10, 9, 0), finished=dt.datetime(2025, 3, 10, 9, 1), status="failed")
    close_database()
    code, out, err = run(capsys, "report", "Acme", "--format", "json", "--db", db_path, "--as-of", AS_OF)
    assert code == 0 and err == ""
    assert json.loads(out)["synced_at"] == "2025-03-10T08:00:00Z"


def test_summary_and_contracts_list_status(db_path, capsys) -> None:
    code, out, _ = run(capsys, "summary", "Acme", "--format", "json", "--db", db_path, "--as-of", AS_OF)
    assert code == 0
    s = json.loads(out)
    assert s["period"] == {"index": 2, "start": "2025-03-01", "end": "2025-03-31", "count": 12}
    by = {c["name"]: c for c in s["clauses"]}
    assert (by["Tickets"]["available"], by["Tickets"]["used"], by["Tickets"]["remaining"]) == (2, 2, 0)
    assert (by["Hours"]["used"], by["Hours"]["remaining"]) == (4.5, 0.5)
    assert (by["SLA"]["rate"], by["SLA"]["status"]) == (50, "fail")
    code, out, _ = run(capsys, "summary", "Acme", "--db", db_path, "--as-of", AS_OF)
    assert code == 0 and max(len(x) for x in out.splitlines()) <= 80 and "4.50 h of 5.00 h" in out
    code, out, _ = run(capsys, "contracts", "list", "--format", "json", "--db", db_path, "--as-of", AS_OF)
    assert code == 0
    assert json.loads(out)["contracts"][0]["status"] == "over: SLA; at risk: Tickets, Hours; invalid: Broken"
    code, out, _ = run(capsys, "contracts", "list", "--format", "json", "--db", db_path, "--as-of", "2025-02-10")
    assert json.loads(out)["contracts"][0]["status"] == "invalid: Broken"  # February: 2 of 3 used (67%)
    code, out, _ = run(capsys, "contracts", "list", "--format", "json", "--db", db_path, "--as-of", "2024-12-10")
    assert json.loads(out)["contracts"][0]["status"] == "not started"


def test_issue_view_table_json_and_unknown_key(db_path, capsys) -> None:
    code, out, _ = run(capsys, "issue", "ABC-7", "--format", "json", "--db", db_path, "--as-of", AS_OF)
    assert code == 0
    v = json.loads(out)
    assert v["issue"]["key"] == "ABC-7" and v["issue"]["hours"] == 1.5
    (acme,) = v["contracts"]
    assert acme["period"] == {"index": 2, "start": "2025-03-01", "end": "2025-03-31", "count": 12}
    by = {c["name"]: c for c in acme["clauses"]}
    assert by["Tickets"]["counts"] and by["Hours"]["hours"] == 1.5
    assert by["SLA"]["sla"] == [{"name": "Time to resolution", "outcome": "met"}]
    assert by["Broken"]["match"] is None and not by["Broken"]["counts"]
    code, out, _ = run(capsys, "issue", "XYZ-8", "--db", db_path, "--as-of", AS_OF)
    assert code == 0 and "not in Tickets: JQL does not match" in out
    assert max(len(x) for x in out.splitlines()) <= 80
    code, out, err = run(capsys, "issue", "ABC-999", "--db", db_path, "--as-of", AS_OF)
    assert code == 2 and "ABC-999" in err and out == ""


def test_unknown_contract_is_an_input_error(db_path, capsys) -> None:
    code, out, err = run(capsys, "report", "Nope", "--db", db_path, "--as-of", AS_OF)
    assert code == 2 and out == "" and err.startswith("ticketbook: ") and len(err.splitlines()) == 1
