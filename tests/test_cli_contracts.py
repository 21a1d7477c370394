"""`ticketbook contracts list|import|export|delete` end to end."""

from __future__ import annotations

import io
import json
import pathlib
import sqlite3
import subprocess
import sys

import pytest

from cache.db import close_database
from tui.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "contracts.json"


@pytest.fixture(autouse=True)
def _close():
    yield
    close_database()


def tb(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *argv], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def table_rows(path: pathlib.Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY id').fetchall()
                for t in ("contract", "clause", "amend", "portal_entry")}
    finally:
        con.close()


BAD_FILE = {
    "contracts": [
        {"name": "Fine", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "UTC",
         "period_type": "fixed"},
        {"name": "Broken", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "UTC",
         "period_type": "monthly_calendar",
         "clauses": [{"name": "A", "type": "issue_count", "limit": 3},
                     {"name": "B", "type": "issue_count", "limit": -1},
                     {"name": "C", "type": "sla_success_rate", "sla": ["TTR"], "target": 99.5,
                      "amends": [{"date": "2025-01-01", "kind": "limit", "value": 1}]}]},
    ]
}


# --- subprocess: the real entry point ----------------------------------------------------------


def test_import_export_round_trip_subprocess(tmp_path) -> None:
    db = str(tmp_path / "t.db")
    proc = tb("--db", db, "contracts", "import", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    n = len(json.loads(EXAMPLE.read_text())["contracts"])
    assert proc.stdout == f"imported {n} contracts ({n} created, 0 replaced)\n"
    proc = tb("--db", db, "contracts", "export")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == EXAMPLE.read_text(encoding="utf-8")


def test_bad_file_subprocess_lists_every_problem_writes_nothing(tmp_path) -> None:
    db = tmp_path / "t.db"
    assert tb("--db", str(db), "contracts", "import", str(EXAMPLE)).returncode == 0
    before = table_rows(db)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD_FILE))
    proc = tb("--db", str(db), "contracts", "import", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}: contracts[1].clauses[1].limit: ") for line in lines), lines
    assert any(line.startswith(f"{bad}: contracts[1].clauses[2].amends") for line in lines), lines
    assert lines[-1].startswith(f"ticketbook: {bad}: ") and lines[-1].endswith("nothing imported")
    assert table_rows(db) == before


# --- import ---------------------------------------------------------------------------------------


def test_import_from_stdin_and_reimport_replaces(tmp_path, capsys, monkeypatch) -> None:
    db = str(tmp_path / "t.db")
    text = EXAMPLE.read_text(encoding="utf-8")
    n = len(json.loads(text)["contracts"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert run(capsys, "--db", db, "contracts", "import", "-")[:2] == (
        0, f"imported {n} contracts ({n} created, 0 replaced)\n")
    code, out, _ = run(capsys, "--db", db, "contracts", "import", str(EXAMPLE))
    assert (code, out) == (0, f"imported {n} contracts (0 created, {n} replaced)\n")
    code, out, _ = run(capsys, "--db", db, "contracts", "export")
    assert out == text


def test_import_single_contract_message_and_case_insensitive_replace(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"contracts": [{"name": "Acme", "start": "2025-01-01", "end": "2025-06-30",
                                            "time_zone": "UTC", "period_type": "fixed"}]}))
    assert run(capsys, "--db", db, "contracts", "import", str(f))[1] == "imported 1 contract (1 created, 0 replaced)\n"
    f.write_text(f.read_text().replace('"Acme"', '"ACME"'))
    assert run(capsys, "--db", db, "contracts", "import", str(f))[1] == "imported 1 contract (0 created, 1 replaced)\n"
    code, out, _ = run(capsys, "--db", db, "contracts", "list", "--format", "json")
    assert [c["name"] for c in json.loads(out)["contracts"]] == ["ACME"]


def test_import_export_keeps_contract_notes(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["contracts"][0]["notes"] = "Renewal due in Q4.\nAsk Ayşe about \"extra\" hours."
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # canonical: notes after portal
    f = tmp_path / "notes.json"
    f.write_text(text, encoding="utf-8")
    assert run(capsys, "--db", db, "contracts", "import", str(f))[0] == 0
    code, out, _ = run(capsys, "--db", db, "contracts", "export")
    assert (code, out) == (0, text)  # byte for byte, notes included
    # "create or replace": a file without notes replaces the stored notes with none
    assert run(capsys, "--db", db, "contracts", "import", str(EXAMPLE))[0] == 0
    assert run(capsys, "--db", db, "contracts", "export")[1] == EXAMPLE.read_text(encoding="utf-8")
    data["contracts"][0]["notes"] = "x" * 10_001
    f.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run(capsys, "--db", db, "contracts", "import", str(f))
    assert code == 2 and "contracts[0].notes: must be at most 10,000 characters" in err


def test_import_missing_file_and_bad_json(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    code, out, err = run(capsys, "--db", db, "contracts", "import", str(tmp_path / "nope.json"))
    assert code == 2 and out == "" and "cannot read" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"contracts": [')
    code, out, err = run(capsys, "--db", db, "contracts", "import", str(bad))
    assert code == 2 and "invalid JSON" in err and "nothing imported" in err


# --- export / delete ------------------------------------------------------------------------------


def test_export_named_in_given_order_and_unknown(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "--db", db, "contracts", "import", str(EXAMPLE))
    names = [c["name"] for c in json.loads(EXAMPLE.read_text())["contracts"]]
    code, out, _ = run(capsys, "--db", db, "contracts", "export", names[2].upper(), names[0])
    assert code == 0
    assert [c["name"] for c in json.loads(out)["contracts"]] == [names[2], names[0]]
    code, out, err = run(capsys, "--db", db, "contracts", "export", names[0], "No Such Thing")
    assert code == 2 and out == ""
    assert err == "ticketbook: no contract named 'No Such Thing'\n"


def test_delete(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "--db", db, "contracts", "import", str(EXAMPLE))
    names = [c["name"] for c in json.loads(EXAMPLE.read_text())["contracts"]]
    code, out, _ = run(capsys, "--db", db, "contracts", "delete", names[0].lower(), "--yes")
    assert (code, out) == (0, f"deleted contract {names[0]!r}\n")
    code, out, err = run(capsys, "--db", db, "contracts", "delete", names[0])
    assert code == 2 and len(err.splitlines()) == 1 and "no contract named" in err
    code, out, _ = run(capsys, "--db", db, "contracts", "export")
    assert [c["name"] for c in json.loads(out)["contracts"]] == names[1:]


def test_delete_asks_on_a_terminal(tmp_path, capsys, monkeypatch) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "--db", db, "contracts", "import", str(EXAMPLE))
    name = json.loads(EXAMPLE.read_text())["contracts"][0]["name"]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    code, out, err = run(capsys, "--db", db, "contracts", "delete", name)
    assert code == 2 and "not deleted" in err
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    code, out, err = run(capsys, "--db", db, "contracts", "delete", name)
    assert code == 0 and "deleted contract" in out
    assert name not in run(capsys, "--db", db, "contracts", "export")[1]


# --- list -----------------------------------------------------------------------------------------


def test_list_table_with_as_of(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"contracts": [
        {"name": "b-monthly", "start": "2025-01-01", "end": "2025-12-31", "time_zone": "Europe/Istanbul",
         "period_type": "monthly_calendar"},
        {"name": "A-later", "start": "2025-06-01", "end": "2026-05-31", "time_zone": "UTC",
         "period_type": "annual_exact_day"},
    ]}))
    run(capsys, "--db", db, "contracts", "import", str(f))
    code, out, err = run(capsys, "--db", db, "--as-of", "2025-03-15", "contracts", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PERIOD", "TYPE", "START", "END", "CURRENT", "PERIOD", "STATUS"]
    assert lines[1].startswith("A-later") and "not started" in lines[1]
    assert lines[2].split() == ["b-monthly", "monthly_calendar", "2025-01-01", "2025-12-31",
                                "3/12", "(2025-03-01..2025-03-31)", "-"]
    code, out, _ = run(capsys, "--db", db, "contracts", "list", "--as-of", "2027-01-01", "--format", "json")
    data = json.loads(out)
    assert data["as_of"] == "2027-01-01"
    by_name = {c["name"]: c for c in data["contracts"]}
    assert by_name["b-monthly"]["current_period"] == {"index": 11, "start": "2025-12-01", "end": "2025-12-31"}
    assert by_name["b-monthly"]["periods"] == 12 and by_name["b-monthly"]["status"] == "-"
    assert by_name["b-monthly"]["revision"] == 1


def test_list_empty_and_no_action(tmp_path, capsys) -> None:
    db = str(tmp_path / "t.db")
    code, out, err = run(capsys, "--db", db, "contracts", "list")
    assert code == 0 and out == "" and "no contracts" in err
    code, out, err = run(capsys, "--db", db, "contracts", "list", "--format", "json")
    assert json.loads(out) == {"as_of": None, "contracts": []}
    code, _, err = run(capsys, "--db", db, "contracts")
    assert code == 2 and "choose an action" in err

