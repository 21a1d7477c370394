"""cache.store: contracts <-> tables, all-or-nothing import, optimistic locking."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from decimal import Decimal

import pytest

from cache import store
from conftest import query_separately
from cache.db import close_database, open_database
from tickets.contractfile import dump_contract_file, load_contract_file
from tickets.errors import InputError, RunError
from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "contracts.json"
OWN_TABLES = ("contract", "clause", "amend", "portal_entry")


@pytest.fixture
def db_path(db_url):
    """A fresh database on each backend (SQLite file, PostgreSQL database), opened."""
    open_database(db_url)
    yield db_url
    close_database()


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of the tool's tables, read through a separate connection."""
    return {t: query_separately(url, f'SELECT * FROM "{t}" ORDER BY id') for t in OWN_TABLES}


def make(name: str = "Acme", **kw) -> Contract:
    base = dict(
        name=name, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), time_zone="Europe/Istanbul",
        period_type=PeriodType.MONTHLY_CALENDAR, carry_over=True, borrowing=False,
        clauses=(
            Clause(name="High", type=ClauseType.ISSUE_COUNT, jql="priority = High", limit=3,
                   amends=(Amend(dt.date(2025, 2, 10), AmendKind.CONSUMPTION, -1, "credit"),
                           Amend(dt.date(2025, 1, 5), AmendKind.LIMIT, 2, ""))),
            Clause(name="Hours", type=ClauseType.SERVICE_HOURS, jql="project = ABC", limit=45_000,
                   amends=(Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 36_000, "March launch"),)),
            Clause(name="All", type=ClauseType.ISSUE_COUNT, jql="project = ABC", limit=None),
            Clause(name="SLA", type=ClauseType.SLA_SUCCESS_RATE, jql="project = ABC",
                   sla=("Time to resolution", "Time to first response"), target=Decimal("99.75")),
        ),
        portal=Portal(help_center=True, portal_projects=("ABC", "XYZ"), users=("u2", "u1"),
                      organizations=("Acme", "Acme EU")),
    )
    base.update(kw)
    return Contract(**base)


# --- mapping ------------------------------------------------------------------------------


def test_save_and_load_round_trip_exact(db_path) -> None:
    c = make()
    assert store.save_contract(c) == 1
    loaded = store.load_contract("Acme")
    assert loaded == c  # order of clauses, amends, portal entries; Decimal target; None limit
    assert loaded.clauses[3].target == Decimal("99.75") and isinstance(loaded.clauses[3].target, Decimal)
    assert [cl.name for cl in loaded.clauses] == ["High", "Hours", "All", "SLA"]
    assert loaded.portal.users == ("u2", "u1")


def test_example_file_round_trip(db_path) -> None:
    contracts = load_contract_file(EXAMPLE)
    result = store.import_contracts(contracts)
    assert (result.created, result.replaced) == (len(contracts), 0)
    assert store.load_all_contracts(order="created") == contracts
    assert dump_contract_file(store.load_all_contracts(order="created")) == EXAMPLE.read_text(encoding="utf-8")


def test_list_is_light_and_sorted_casefold(db_path) -> None:
    for name in ("beta", "Alpha", "gamma", "Delta"):
        store.save_contract(make(name))
    rows = store.list_contracts()
    assert [r.name for r in rows] == ["Alpha", "beta", "Delta", "gamma"]
    r = rows[0]
    assert (r.period_type, r.start, r.end, r.time_zone, r.revision) == (
        PeriodType.MONTHLY_CALENDAR, dt.date(2025, 1, 1), dt.date(2025, 12, 31), "Europe/Istanbul", 1)
    assert not hasattr(r, "clauses")
    assert [c.name for c in store.load_all_contracts()] == ["Alpha", "beta", "Delta", "gamma"]


def test_load_is_case_insensitive_and_unknown_suggests(db_path) -> None:
    store.save_contract(make("Acme Corp - Monthly Support"))
    assert store.load_contract("  acme corp - MONTHLY support ").name == "Acme Corp - Monthly Support"
    with pytest.raises(InputError, match=r"no contract named 'acme'; did you mean 'Acme Corp - Monthly Support'\?"):
        store.load_contract("acme")
    with pytest.raises(InputError, match=r"no contract named 'Acme Crop - Monthly Support'; did you mean"):
        store.load_contract("Acme Crop - Monthly Support")
    with pytest.raises(InputError) as info:
        store.load_contract("zzz")
    assert str(info.value) == "no contract named 'zzz'"


# --- save: replace, validation, locking ------------------------------------------------------------


def test_replace_keeps_row_id_and_rewrites_children(db_path) -> None:
    store.save_contract(make())
    cid, rev, _ = store.load_contract_with_revision("acme")
    smaller = make(clauses=(Clause(name="Only", type=ClauseType.ISSUE_COUNT, limit=1),), portal=Portal())
    assert store.save_contract(smaller) == rev + 1
    cid2, rev2, loaded = store.load_contract_with_revision("ACME")
    assert (cid2, rev2, loaded) == (cid, rev + 1, smaller)
    snap = snapshot(db_path)
    assert len(snap["clause"]) == 1 and snap["amend"] == [] and snap["portal_entry"] == []


def test_invalid_contract_is_refused_and_nothing_written(db_path) -> None:
    store.save_contract(make())
    before = snapshot(db_path)
    bad = make(end=dt.date(2024, 1, 1), time_zone="Mars/Olympus")
    with pytest.raises(store.InvalidContractError) as info:
        store.save_contract(bad)
    paths = [p for p, _ in info.value.problems]
    assert "end" in paths and "time_zone" in paths
    assert isinstance(info.value, InputError) and "(and 1 more)" in str(info.value)
    assert snapshot(db_path) == before


def test_conflict_first_save_wins(db_path) -> None:
    store.save_contract(make())
    _, rev_a, a = store.load_contract_with_revision("Acme")  # session A opens the editor
    _, rev_b, b = store.load_contract_with_revision("acme")  # session B opens it too
    assert rev_a == rev_b == 1
    a2 = dataclasses.replace(a, carry_over=False)
    assert store.save_contract(a2, expected_revision=rev_a) == 2
    after_a = snapshot(db_path)
    b2 = dataclasses.replace(b, borrowing=True, clauses=())
    with pytest.raises(store.ConflictError, match="contract 'Acme' was changed by someone else since you opened it"):
        store.save_contract(b2, expected_revision=rev_b)
    assert isinstance(store.ConflictError("x"), RunError)
    assert snapshot(db_path) == after_a
    assert store.load_contract("Acme") == a2
    # B reloads and saves again: fine.
    _, rev_b, _ = store.load_contract_with_revision("Acme")
    assert store.save_contract(b2, expected_revision=rev_b) == 3


def test_conflict_when_deleted_or_created_meanwhile(db_path) -> None:
    store.save_contract(make())
    _, rev, c = store.load_contract_with_revision("Acme")
    store.delete_contract("Acme")
    with pytest.raises(store.ConflictError, match="deleted by someone else"):
        store.save_contract(c, expected_revision=rev)
    assert snapshot(db_path)["contract"] == []
    store.save_contract(make("New"))  # someone else created "New"
    with pytest.raises(store.ConflictError, match="created by someone else"):
        store.save_contract(make("new"), expected_revision=0)


def test_rename_with_replace_name(db_path) -> None:
    store.save_contract(make("Old"))
    store.save_contract(make("Other"))
    cid, rev, c = store.load_contract_with_revision("Old")
    with pytest.raises(InputError, match="a contract named 'Other' already exists"):
        store.save_contract(dataclasses.replace(c, name="OTHER"), expected_revision=rev, replace_name="Old")
    assert store.save_contract(dataclasses.replace(c, name="Renamed"), expected_revision=rev, replace_name="Old") == 2
    assert [r.name for r in store.list_contracts()] == ["Other", "Renamed"]
    assert store.load_contract_with_revision("renamed")[0] == cid
    with pytest.raises(InputError, match="no contract named 'Old'"):
        store.save_contract(make("X"), replace_name="Old")


# --- import -----------------------------------------------------------------------------------------


def test_import_replaces_by_case_insensitive_name(db_path) -> None:
    store.save_contract(make("ACME corp"))
    cid = store.load_contract_with_revision("acme corp")[0]
    result = store.import_contracts([make("Acme Corp", carry_over=False), make("Globex")])
    assert (result.created, result.replaced, result.total) == (1, 1, 2)
    rows = store.list_contracts()
    assert [(r.name, r.revision) for r in rows] == [("Acme Corp", 2), ("Globex", 1)]
    assert rows[0].id == cid
    assert store.load_contract("acme corp").carry_over is False


def test_import_with_one_bad_contract_writes_nothing(db_path) -> None:
    store.import_contracts([make("Acme"), make("Globex")])
    before = snapshot(db_path)
    bad_clause = Clause(name="Neg", type=ClauseType.ISSUE_COUNT, limit=-5)
    with pytest.raises(store.InvalidContractError) as info:
        store.import_contracts([make("Acme", carry_over=False), make("Initech"),
                                make("Bad", clauses=(bad_clause,))])
    assert [p for p, _ in info.value.problems] == ["contracts[2].clauses[0].limit"]
    assert snapshot(db_path) == before


def test_import_duplicate_names_in_batch_refused(db_path) -> None:
    with pytest.raises(store.InvalidContractError) as info:
        store.import_contracts([make("Acme"), make("acme")])
    assert info.value.problems[0][0] == "contracts[1].name"
    assert snapshot(db_path)["contract"] == []


def test_failure_mid_transaction_rolls_back(db_path, monkeypatch) -> None:
    store.import_contracts([make("Acme")])
    before = snapshot(db_path)
    real = store._write_children
    calls = []

    def flaky(contract_id, contract):
        calls.append(contract.name)
        if len(calls) == 2:
            raise OSError("disk on fire")
        return real(contract_id, contract)

    monkeypatch.setattr(store, "_write_children", flaky)
    with pytest.raises(OSError, match="disk on fire"):
        store.import_contracts([make("Acme", clauses=()), make("Globex"), make("Initech")])
    assert calls == ["Acme", "Globex"]
    assert snapshot(db_path) == before


def test_delete_removes_children(db_path) -> None:
    store.import_contracts([make("Acme"), make("Globex")])
    store.delete_contract("ACME")
    snap = snapshot(db_path)
    assert [r[1] for r in snap["contract"]] == ["Globex"]
    assert len(snap["clause"]) == 4 and len(snap["amend"]) == 3 and len(snap["portal_entry"]) == 6
    with pytest.raises(InputError, match="no contract named 'Acme'"):
        store.delete_contract("Acme")


def test_notes_are_saved_with_the_contract_in_one_transaction(db_path) -> None:
    assert store.save_contract(make(), notes="first call on Monday") == 1
    assert query_separately(db_path, "SELECT notes FROM contract") == [("first call on Monday",)]
    _, rev, c = store.load_contract_with_revision("Acme")
    assert c.notes == "first call on Monday"
    assert store.save_contract(c, expected_revision=rev) == 2  # None: the contract's own notes (loaded)
    assert query_separately(db_path, "SELECT notes FROM contract") == [("first call on Monday",)]
    assert store.save_contract(c, expected_revision=2, notes="") == 3
    assert query_separately(db_path, "SELECT notes FROM contract") == [("",)]
    with pytest.raises(store.ConflictError):
        store.save_contract(c, expected_revision=2, notes="lost")
    assert query_separately(db_path, "SELECT notes FROM contract") == [("",)]


def test_notes_are_a_contract_field(db_path) -> None:
    c = make(notes="Renewal due in Q4.\nAsk Ayşe about hours.")
    assert store.save_contract(c) == 1
    assert store.load_contract("acme") == c
    assert store.load_all_contracts() == [c]
    assert query_separately(db_path, "SELECT notes FROM contract") == [(c.notes,)]
    assert store.save_contract(c, expected_revision=1, notes="override") == 2  # the compatibility keyword wins
    assert store.load_contract("Acme").notes == "override"
    with pytest.raises(store.InvalidContractError) as info:
        store.save_contract(make(notes="x" * 10_001), expected_revision=2)
    assert info.value.problems == [("notes", "must be at most 10,000 characters (got 10,001)")]
    with pytest.raises(store.InvalidContractError):
        store.save_contract(c, expected_revision=2, notes="x" * 10_001)
    assert store.load_contract("Acme").notes == "override"


def test_import_replace_sets_notes_from_the_file(db_path) -> None:
    store.save_contract(make("Acme", notes="stored"))
    store.save_contract(make("Globex", notes="stored too"))
    result = store.import_contracts([make("ACME", notes="from the file"), make("Globex")])
    assert result.replaced == 2
    assert store.load_contract("Acme").notes == "from the file"
    assert store.load_contract("Globex").notes == ""  # none in the file: create or replace as given


def test_import_export_keeps_notes(db_path, tmp_path) -> None:
    contracts = [make("Acme", notes="line one\nline two"), make("Globex")]
    text = dump_contract_file(contracts)
    assert text.count('"notes": "line one\\nline two"') == 1
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    store.import_contracts(load_contract_file(path))
    assert dump_contract_file(store.load_all_contracts(order="created")) == text  # byte for byte


def test_read_snapshot_does_not_see_a_save_committed_meanwhile(db_path) -> None:
    """cache.dialect.read_snapshot: a report's several queries see one committed state."""
    import subprocess
    import sys

    from cache import dialect

    store.save_contract(make())
    code = ("import sys, dataclasses; from cache.db import open_database; from cache import store; "
            "open_database(sys.argv[1]); _, r, c = store.load_contract_with_revision('Acme'); "
            "store.save_contract(dataclasses.replace(c, clauses=c.clauses[:1]), expected_revision=r)")
    with dialect.read_snapshot():
        before = store.load_contract_with_revision("Acme")
        subprocess.run([sys.executable, "-c", code, str(db_path)], check=True, timeout=60)
        assert store.load_contract_with_revision("Acme") == before  # same revision, same clauses
    after = store.load_contract_with_revision("Acme")
    assert after[1] == before[1] + 1 and len(after[2].clauses) == 1
