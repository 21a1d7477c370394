"""Regressions for review findings: long JQL clauses, SLA name matching, unreachable periods, a damaged file.

Real SQLite files in ``tmp_path``; the CLI through :func:`tui.cli.main` (and
one subprocess for "one line, no traceback").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal

import peewee as pw
import pytest

import jql_fixture as fx
from cache import membership, reports, store
from cache.db import close_database, open_database
from cache.models import ClauseEval, ClauseMatch, SlaCycle
from tickets import rules
from tickets.jql import JqlSyntaxError, parse
from tickets.model import Clause, ClauseType, Contract, PeriodType
from tui.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AS_OF = dt.date(2023, 6, 1)
KEYS = ["ABC-1", "ABC-2", "ABC-3", "XYZ-1", "XYZ-2", "ZED-1", "ZED-2", "ABC-4"]


@pytest.fixture
def db(tmp_path):
    """The hand-built JQL cache (8 issues, January-February 2023) in a SQLite file."""
    path = str(tmp_path / "cache.db")
    open_database(path)
    fx.build()
    yield path
    close_database()


def _contract(*clauses: Clause, name: str = "R") -> Contract:
    return Contract(name, dt.date(2023, 1, 1), dt.date(2023, 12, 31), "UTC", PeriodType.FIXED, clauses=clauses)


def _wrapped(message: str) -> pw.OperationalError:
    """A driver error as peewee raises it."""
    return pw.OperationalError(sqlite3.OperationalError(message), message)


def _long_or(n: int) -> str:
    return " OR ".join(f"key = {KEYS[i % len(KEYS)]}" for i in range(n))


def _deep(levels: int) -> str:
    """``labels != x0 OR (labels != x1 AND (... (key = ABC-1)))``: nested ``levels`` deep (alternating)."""
    q = "key = ABC-1"
    for i in range(levels):
        q = f"labels != x{i} {'AND' if i % 2 else 'OR'} ({q})"
    return q


# --------------------------------------------------------------------------- A: long clauses


@pytest.mark.parametrize("n", [120, 3000])
def test_a_long_or_chain_is_evaluated_locally(db, n) -> None:
    store.import_contracts([_contract(Clause("k", ClauseType.ISSUE_COUNT, _long_or(n)))])
    rep = reports.contract_report("R", as_of=AS_OF)
    (c,) = rep.clauses
    assert c.valid, c.error
    assert c.rows[0].issues == 8
    assert membership.count_matches(_long_or(n)) == 8


def test_a_long_and_chain_on_a_multi_valued_field(db) -> None:
    jql = " AND ".join(f"labels != x{i}" for i in range(150))  # labels: 1001, 1002, 1004, 1005 have some
    assert membership.count_matches(jql) == 4
    store.import_contracts([_contract(Clause("l", ClauseType.ISSUE_COUNT, jql))])
    (c,) = reports.contract_report("R", as_of=AS_OF).clauses
    assert c.valid and c.rows[0].issues == 4


def test_a_a_clause_too_complex_for_sqlite_is_invalid_alone(db, capsys) -> None:
    """SQLite's parser stack overflows on ~100 nested levels: that clause is invalid, the report goes on."""
    store.import_contracts([_contract(Clause("deep", ClauseType.ISSUE_COUNT, _deep(99)),
                                      Clause("plain", ClauseType.ISSUE_COUNT, "project = ABC"))])
    rep = reports.contract_report("R", as_of=AS_OF)
    deep, plain = rep.clauses
    assert not deep.valid and "too large or too deeply nested" in deep.error
    assert "\n" not in deep.error
    assert plain.valid and plain.rows[0].issues == 4
    assert reports.current_status("R", AS_OF) == "invalid: deep"
    ev = ClauseEval.get(ClauseEval.jql == _deep(99))
    assert ev.mode == "invalid"
    assert ClauseMatch.select().where(ClauseMatch.clause == ev.clause_id).count() == 0
    # the clause dialog's live count says why too, instead of a raw database error
    count = membership.count_matches(_deep(99))
    assert isinstance(count, str) and "too large or too deeply nested" in count


def test_a_after_sync_marks_a_too_complex_local_clause_invalid(db, monkeypatch) -> None:
    """The incremental path (one sync page) rewrites a local clause's rows: a refused statement there
    marks the clause invalid instead of failing the sync page."""
    store.import_contracts([_contract(Clause("k", ClauseType.ISSUE_COUNT, "key = ABC-1"),
                                      Clause("p", ClauseType.ISSUE_COUNT, "project = XYZ"))])
    reports.contract_report("R", as_of=AS_OF)
    k = ClauseEval.get(ClauseEval.jql == "key = ABC-1")
    assert k.mode == "local"
    real = membership._insert_local

    def refuse(cid, expr, *args, **kw):
        if cid == k.clause_id:
            raise _wrapped("parser stack overflow")
        return real(cid, expr, *args, **kw)

    monkeypatch.setattr(membership, "_insert_local", refuse)
    with pw.SqliteDatabase.atomic(membership.database.obj):  # as the sync page's transaction
        membership.after_sync(sorted(fx.ALL), [])
    k = ClauseEval.get(ClauseEval.clause == k.clause_id)
    assert k.mode == "invalid" and "parser stack overflow" in k.error
    p = ClauseEval.get(ClauseEval.jql == "project = XYZ")
    assert p.mode == "local" and ClauseMatch.select().where(ClauseMatch.clause == p.clause_id).count() == 2


def test_a_a_real_database_failure_still_propagates(db, monkeypatch) -> None:
    from cache.jqlsql import run_guarded

    def locked():
        raise _wrapped("database is locked")

    with pytest.raises(pw.OperationalError):
        run_guarded(locked)
    assert "parser stack overflow" in run_guarded(
        lambda: (_ for _ in ()).throw(_wrapped("parser stack overflow")))


def test_a_cli_report_with_a_long_or_clause(tmp_path, capsys) -> None:
    path = str(tmp_path / "x.db")
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"contracts": [{
        "name": "Keys", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "UTC",
        "period_type": "monthly_calendar",
        "clauses": [{"name": "k", "type": "issue_count", "jql": " OR ".join(f"key = ABC-{i}" for i in range(1, 121)),
                     "limit": 5},
                    {"name": "deep", "type": "issue_count", "jql": _deep(99), "limit": 5}]}]}))
    assert main(["--db", path, "contracts", "import", str(f)]) == 0
    capsys.readouterr()
    assert main(["--db", path, "--as-of", "2025-06-01", "report", "Keys"]) == 0
    assert main(["--db", path, "--as-of", "2025-06-01", "contracts", "list"]) == 0
    out = capsys.readouterr().out
    assert "invalid: deep" in out and "internal error" not in out


def test_a_parser_refuses_too_deep_nesting_with_a_syntax_error() -> None:
    parse("(" * 100 + "project = A" + ")" * 100)
    for text, pos in (("(" * 600 + "project = A" + ")" * 600, 100), ("NOT " * 101 + "project = A", 400),
                      ("project in " + "(" * 101 + "A" + ")" * 101, 11 + 100)):
        with pytest.raises(JqlSyntaxError) as err:
            parse(text)
        assert err.value.position == pos
        assert "too deeply nested" in err.value.message


def test_a_jql_check_exits_2_for_too_deep_nesting(capsys) -> None:
    assert main(["jql", "check", "(" * 600 + "project = A" + ")" * 600]) == 2
    err = capsys.readouterr().err
    assert "too deeply nested at position 100" in err and "Traceback" not in err


# --------------------------------------------------------------------------- B: SLA names


def _slas(names_by_issue: dict[int, str]) -> None:
    for iid, name in names_by_issue.items():
        SlaCycle.create(issue=iid, field_id="customfield_10021", sla_name=name, kind="completed", breached=True)


def test_b_sla_names_ignore_case(db) -> None:
    _slas({1001: "Time to resolution", 1002: "Time to resolution"})
    store.import_contracts([_contract(
        Clause("exact", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("Time to resolution",), target=Decimal(100)),
        Clause("lower", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("time to RESOLUTION",),
               target=Decimal(100)))])
    rep = reports.contract_report("R", as_of=AS_OF)
    exact, lower = rep.clauses
    assert (exact.rows[0].issues, exact.rows[0].breached) == (4, 2)
    assert lower.valid and (lower.rows[0].issues, lower.rows[0].breached) == (4, 2)
    assert membership.check_consistency() == []
    view = reports.issue_view("ABC-1", AS_OF)
    (entry_exact, entry_lower) = view["contracts"][0]["clauses"]
    assert entry_exact["outcome"] == entry_lower["outcome"] == "fail"
    assert entry_lower["sla"] == [{"name": "time to RESOLUTION", "outcome": "breached"}]


def test_b_an_unknown_sla_name_makes_the_clause_invalid(db, capsys) -> None:
    _slas({1001: "Time to resolution"})
    store.import_contracts([_contract(
        Clause("typo", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("Time to resolutionx",),
               target=Decimal(100)),
        Clause("ok", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("Time to resolution",), target=Decimal(90)))])
    rep = reports.contract_report("R", as_of=AS_OF)
    typo, ok = rep.clauses
    assert not typo.valid and "unknown SLA 'Time to resolutionx'" in typo.error
    assert typo.rows[0].status is None  # no figures, never a silent "success"
    assert ok.valid and ok.rows[0].breached == 1
    assert "invalid: typo" in reports.current_status("R", AS_OF)


def test_b_sla_names_known_from_the_field_list_only(db) -> None:
    from cache.models import JiraField

    JiraField.create(id="customfield_10021", name="Time to resolution", custom=True, custom_id=10021,
                     schema_custom="com.atlassian.servicedesk:sd-sla-field")
    store.import_contracts([_contract(
        Clause("s", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("TIME TO RESOLUTION",)))])
    (c,) = reports.contract_report("R", as_of=AS_OF).clauses
    assert c.valid and c.rows[0].breached == 0 and c.rows[0].status == "success"


# --------------------------------------------------------------------------- C: periods out of range


@pytest.mark.parametrize("start,end,zone,field", [
    ("2025-01-01", "9999-12-31", "UTC", "end"),
    ("0001-01-01", "2025-12-31", "Asia/Tokyo", "start"),
])
def test_c_import_refuses_periods_that_cannot_be_computed(tmp_path, capsys, start, end, zone, field) -> None:
    path = str(tmp_path / "x.db")
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"contracts": [{
        "name": "Far", "start": start, "end": end, "time_zone": zone, "period_type": "annual_calendar",
        "clauses": [{"name": "a", "type": "issue_count", "jql": "project = ABC", "limit": 3}]}]}))
    assert main(["--db", path, "contracts", "import", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"contracts[0].{field}:" in err and "out of the supported range" in err
    assert main(["--db", path, "contracts", "list"]) == 0  # nothing imported, nothing broken
    assert "internal error" not in capsys.readouterr().err


def test_c_validate_contract_edges() -> None:
    ok = Contract("A", dt.date(1, 1, 1), dt.date(9999, 12, 30), "America/New_York", PeriodType.ANNUAL_CALENDAR)
    assert rules.validate_contract(ok) == []
    far = Contract("A", dt.date(2025, 1, 1), dt.date(9999, 12, 31), "UTC", PeriodType.MONTHLY_CALENDAR)
    assert [p for p, _ in rules.validate_contract(far, "contracts[3]")] == ["contracts[3].end"]
    early = Contract("A", dt.date(1, 1, 1), dt.date(2025, 1, 1), "Asia/Tokyo", PeriodType.FIXED)
    assert [p for p, _ in rules.validate_contract(early)] == ["start"]
    backwards = Contract("A", dt.date(2025, 1, 2), dt.date(2025, 1, 1), "UTC", PeriodType.FIXED)
    assert [p for p, _ in rules.validate_contract(backwards)] == ["end"]  # one problem, not two


# --------------------------------------------------------------------------- LOW: a damaged SQLite file


def _damaged_db(tmp_path) -> str:
    path = tmp_path / "damaged.db"
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"contracts": [{
        "name": "C", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "UTC", "period_type": "fixed",
        "clauses": [{"name": "a", "type": "issue_count", "jql": "project = ABC", "limit": 1}]}]}))
    assert main(["--db", str(path), "contracts", "import", str(f)]) == 0
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'contract'").fetchone()
    con.close()
    with open(path, "r+b") as fh:  # the contract table's page, in the middle of an otherwise sound file
        fh.seek((root - 1) * page_size)
        fh.write(b"\x0d\x00\x00\xff\xff" + b"\xff" * 200)
    return str(path)


def test_low_a_file_damaged_in_the_middle_is_a_db_input_error(tmp_path, capsys) -> None:
    path = _damaged_db(tmp_path)
    capsys.readouterr()
    assert main(["--db", path, "contracts", "list"]) == 2
    err = capsys.readouterr().err
    assert err == f"ticketbook: --db: {path}: database disk image is malformed\n"


def test_low_damaged_file_one_line_no_traceback(tmp_path) -> None:
    path = _damaged_db(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBOOK_")}
    r = subprocess.run([sys.executable, "-m", "tui.cli", "--db", path, "report", "C"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"ticketbook: --db: {path}: database disk image is malformed"]
    assert "Traceback" not in r.stderr
