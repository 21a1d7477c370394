"""Opening databases: migrations from the frozen v1 fixture, refusals, pragmas."""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import sqlite3
import subprocess
import sys

import pytest

from cache import migrations
from cache.db import close_database, open_database
from tickets.errors import InputError, RunError
from tui.cli import main

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
V1 = FIXTURES / "schema_v1.db"


@pytest.fixture(autouse=True)
def _close():
    yield
    close_database()


def _copy_v1(tmp_path: pathlib.Path) -> pathlib.Path:
    dest = tmp_path / "old.db"
    shutil.copyfile(V1, dest)  # copyfile: the copy is writable even if the fixture is not
    return dest


def _schema(path: pathlib.Path) -> dict[str, dict]:
    """Per table: columns (name, type, notnull, default, pk) and indexes (name, unique, columns)."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for t in tables:
            cols = [tuple(r[1:]) for r in con.execute(f'PRAGMA table_info("{t}")')]
            idx = {}
            for r in con.execute(f'PRAGMA index_list("{t}")'):
                name, unique = r[1], r[2]
                idx[name] = (unique, tuple(c[2] for c in con.execute(f'PRAGMA index_info("{name}")')))
            fks = sorted(tuple(r[2:]) for r in con.execute(f'PRAGMA foreign_key_list("{t}")'))
            out[t] = {"columns": cols, "indexes": idx, "fks": fks}
        return out
    finally:
        con.close()


# --- (a) + (b): the v1 fixture upgrades to LATEST, data intact, schema as fresh --------


def test_fixture_is_version_1_and_code_is_newer() -> None:
    con = sqlite3.connect(f"{V1.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    finally:
        con.close()
    assert migrations.LATEST > 1, "add migration steps after v1; the fixture proves them"


def test_v1_fixture_migrates_with_data_intact(tmp_path) -> None:
    path = _copy_v1(tmp_path)
    open_database(path)
    from cache.models import Amend, Clause, Contract, Issue, Meta, PortalEntry, SlaCycle, SyncLog, Worklog

    assert Meta.get_by_id("schema_version").value == str(migrations.LATEST)
    c = Contract.get()
    assert (c.name, c.start, c.end, c.time_zone, c.period_type) == (
        "Acme Corp - Monthly Support 2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31),
        "Europe/Istanbul", "monthly_calendar")
    assert (c.carry_over, c.borrowing, c.help_center, c.revision) == (True, False, True, 3)
    assert c.notes == ""  # v2 column, filled with its default
    clauses = list(Clause.select().where(Clause.contract == c).order_by(Clause.position))
    assert [(k.name, k.type, k.limit_units) for k in clauses] == [
        ("High priority tickets", "issue_count", 3), ("Service hours", "service_hours", 180000)]
    (a,) = Amend.select()
    assert (a.clause_id, a.date, a.kind, a.value_units, a.notes) == (
        clauses[1].id, dt.date(2025, 3, 1), "limit", 36000, "Extra hours bought for the March launch")
    assert sorted((p.kind, p.value) for p in PortalEntry.select()) == [
        ("organization", "Acme"), ("project", "ABC"), ("user", "5b10ac8d82e05b22cc7d4ef5")]
    issue = Issue.get_by_id(10001)
    assert (issue.key, issue.summary, issue.raw_fields) == ("ABC-1", "Printer on fire", {"summary": "Printer on fire"})
    assert Worklog.get_by_id(20001).time_spent_seconds == 5400
    assert SlaCycle.get().sla_name == "Time to resolution"
    assert SyncLog.get().status == "ok"
    # The cascade still works after the upgrade (FKs were re-enabled).
    Contract.delete().execute()
    assert Clause.select().count() == 0 and Amend.select().count() == 0


def test_v1_upgrade_runs_once_and_reopens(tmp_path) -> None:
    path = _copy_v1(tmp_path)
    open_database(path)
    close_database()
    db = open_database(path)
    assert migrations.migrate(db) == migrations.LATEST  # nothing left to do


def test_migrated_schema_equals_fresh_schema(tmp_path) -> None:
    old = _copy_v1(tmp_path)
    open_database(old)
    close_database()
    fresh = tmp_path / "fresh.db"
    open_database(fresh)
    close_database()
    got, want = _schema(old), _schema(fresh)
    assert got.keys() == want.keys()
    for table in want:
        assert got[table]["columns"] == want[table]["columns"], table
        assert got[table]["indexes"] == want[table]["indexes"], table
        assert got[table]["fks"] == want[table]["fks"], table


# --- (c) refusals: via open_database and via the CLI ---------------------------------------


def _cli(capsys, path, *more) -> tuple[int, str]:
    code = main(["--db", str(path), "contracts", "list", *more])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return code, err


def test_not_a_database_refused_untouched(tmp_path, capsys) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not SQLite at all\n" * 10)
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a SQLite database"):
        open_database(path)
    code, err = _cli(capsys, path)
    assert code == 2 and "not a SQLite database" in err
    assert path.read_bytes() == before


def test_directory_refused(tmp_path, capsys) -> None:
    with pytest.raises(InputError, match="is a directory"):
        open_database(tmp_path)
    code, err = _cli(capsys, tmp_path)
    assert code == 2 and "is a directory" in err


def test_empty_file_becomes_new_database(tmp_path, capsys) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    open_database(path)
    close_database()
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta").fetchone() == (str(migrations.LATEST),)
    con.close()
    path2 = tmp_path / "empty2.db"
    path2.write_bytes(b"")
    assert main(["--db", str(path2), "contracts", "list"]) == 0


def _foreign_db(path: pathlib.Path) -> bytes:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers (name) VALUES ('someone else''s data')")
    con.commit()
    con.close()
    return path.read_bytes()


def test_foreign_sqlite_database_refused_untouched(tmp_path, capsys) -> None:
    path = tmp_path / "other.db"
    before = _foreign_db(path)
    with pytest.raises(InputError, match="not made by TicketBook"):
        open_database(path)
    assert path.read_bytes() == before
    code, err = _cli(capsys, path)
    assert code == 2 and "not made by TicketBook" in err
    assert path.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()


def test_newer_schema_refused(tmp_path, capsys) -> None:
    path = tmp_path / "future.db"
    open_database(path)
    close_database()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(migrations.LATEST + 5),))
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(RunError, match="newer than this TicketBook"):
        open_database(path)
    code, err = _cli(capsys, path)
    assert code == 1 and "upgrade TicketBook" in err
    assert path.read_bytes() == before


def test_refusal_through_subprocess(tmp_path) -> None:
    path = tmp_path / "other.db"
    before = _foreign_db(path)
    proc = subprocess.run([sys.executable, "-m", "tui", "--db", str(path), "contracts", "list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == before


# --- (d) pragmas, (e) :memory: ------------------------------------------------------------


def test_sqlite_pragmas_in_effect(tmp_path) -> None:
    db = open_database(tmp_path / "p.db")
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    # foreign keys are really enforced
    from cache.models import Clause

    with pytest.raises(Exception, match="FOREIGN KEY"):
        Clause.create(contract=999, position=0, name="x", type="issue_count")


def test_memory_refused(capsys) -> None:
    with pytest.raises(InputError, match=":memory:"):
        open_database(":memory:")
    code, err = _cli(capsys, ":memory:")
    assert code == 2 and ":memory:" in err


# --- (f) both backends: fresh schema, migration chain, refusals ----------------------------------

from conftest import query_separately  # noqa: E402


def _pg_schema(url: str) -> dict:
    cols = query_separately(url, """
        SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length
        FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name""")
    idx = query_separately(url, """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY tablename, indexname""")
    fks = query_separately(url, """
        SELECT tc.table_name, kcu.column_name, ccu.table_name, rc.delete_rule
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
        JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
        JOIN information_schema.referential_constraints rc ON rc.constraint_name = tc.constraint_name
        WHERE tc.constraint_type = 'FOREIGN KEY' ORDER BY 1, 2""")
    return {"columns": cols, "indexes": idx, "fks": fks}


def _stamp(url: str, version: int) -> None:
    db = open_database(url, migrate=False)
    db.execute_sql("UPDATE meta SET value = %s WHERE key = 'schema_version'" % db.param, (str(version),))
    close_database()


def test_fresh_database_opens_stamped_and_reopens(db_url) -> None:
    db = open_database(db_url)
    assert migrations.schema_version(db) == migrations.LATEST
    close_database()
    db = open_database(db_url)
    assert migrations.migrate(db) == migrations.LATEST  # nothing left to do


def test_newer_schema_refused_on_every_backend(db_url, capsys) -> None:
    open_database(db_url)
    close_database()
    _stamp(db_url, migrations.LATEST + 5)
    with pytest.raises(RunError, match="newer than this TicketBook"):
        open_database(db_url)
    code, err = _cli(capsys, db_url)
    assert code == 1 and "upgrade TicketBook" in err


@pytest.mark.postgres
def test_foreign_postgresql_database_refused_untouched(fresh_db_url, capsys) -> None:
    url = fresh_db_url("postgres")
    import psycopg2

    con = psycopg2.connect(url)
    con.autocommit = True
    con.cursor().execute("CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT);"
                         "INSERT INTO customers (name) VALUES ('someone else''s data')")
    con.close()
    with pytest.raises(InputError, match="not made by TicketBook"):
        open_database(url)
    code, err = _cli(capsys, url)
    assert code == 2 and "not made by TicketBook" in err
    tables = {r[0] for r in query_separately(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"customers"}


def test_unreachable_postgresql_is_one_line(capsys) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    pytest.importorskip("psycopg2")
    url = f"postgresql://nobody@127.0.0.1:{port}/nothing"
    with pytest.raises(RunError, match="cannot reach database"):
        open_database(url)
    code, err = _cli(capsys, url)
    assert code == 1 and "cannot reach database" in err


@pytest.mark.postgres
def test_v1_schema_on_postgresql_migrates_to_the_fresh_schema(fresh_db_url) -> None:
    """The v1 fixture is SQLite; on PostgreSQL a v1 database is rebuilt by undoing v2/v3, then migrated."""
    old, fresh = fresh_db_url("postgres"), fresh_db_url("postgres")
    open_database(fresh)
    close_database()
    db = open_database(old)
    for sql in ('DROP TABLE clause_match', 'DROP TABLE clause_eval',
                'ALTER TABLE contract DROP COLUMN notes',
                'DROP INDEX clause_contract_id_position', 'DROP INDEX amend_clause_id_position',
                'CREATE INDEX clause_contract_id_position ON clause (contract_id, position)',
                "UPDATE meta SET value = '1' WHERE key = 'schema_version'"):
        db.execute_sql(sql)
    now = dt.datetime(2024, 5, 1, 12, 0)
    cid = db.execute_sql(
        "INSERT INTO contract (name, name_key, start, \"end\", time_zone, period_type, carry_over, borrowing, "
        "help_center, revision, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        ("Old One", "old one", dt.date(2024, 1, 1), dt.date(2024, 12, 31), "UTC", "monthly_calendar",
         True, False, True, 3, now, now)).fetchone()[0]
    db.execute_sql("INSERT INTO clause (contract_id, position, name, type, jql, limit_units, sla, target) "
                   "VALUES (%s, 0, 'High', 'issue_count', 'priority = High', 5, '[]', NULL)", (cid,))
    close_database()
    db = open_database(old)  # runs v2, v3
    assert migrations.schema_version(db) == migrations.LATEST
    close_database()
    got, want = _pg_schema(old), _pg_schema(fresh)
    assert got["columns"] == want["columns"]
    assert got["indexes"] == want["indexes"]
    assert got["fks"] == want["fks"]
    rows = query_separately(old, "SELECT name, revision, notes, carry_over FROM contract")
    assert rows == [("Old One", 3, "", True)]
    assert query_separately(old, "SELECT name, limit_units FROM clause") == [("High", 5)]
