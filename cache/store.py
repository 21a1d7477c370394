"""Contract storage: :class:`tickets.model.Contract` <-> the tool's own tables.

Every function works on the database :data:`cache.db.database` is bound to
(call :func:`cache.db.open_database` first).

Mapping
-------
* ``contract``: one row per contract; ``name_key`` (trimmed, case-folded
  name) makes names unique case-insensitively; ``portal.help_center`` is the
  ``help_center`` column; ``revision`` starts at 1 and is bumped by every save
  (optimistic locking, see :func:`save_contract`).
* ``clause``: ``position`` 0.. keeps the file/editor order; ``limit_units``
  is in model units (issues or seconds), NULL for unlimited and SLA clauses;
  ``target`` is the exact Decimal as text; ``sla`` a JSON list.
* ``amend``: ``position`` 0.. keeps the order within a clause.
* ``portal_entry``: ``kind`` ``project`` / ``user`` / ``organization``,
  ``position`` is the order within that kind.

Replacing a contract (import of an existing name, or a save from the editor)
**keeps the contract row id** and rewrites its clauses, amends and portal
entries as new rows: a cache keyed by clause id is invalidated by the new
ids, and one keyed by ``(contract id, revision)`` by the bumped revision.
``Contract.notes`` is the ``notes`` column (schema v2): every create or
replace writes it (an import replacing a contract sets the file's notes, ``""``
when the file has none).

Every write is one transaction (:func:`cache.dialect.write_transaction`:
``BEGIN IMMEDIATE`` on SQLite, so two writers queue on the busy timeout
instead of failing half way), retried as a whole on a transient failure
(PostgreSQL deadlock, SQLite still busy after the timeout) by
:func:`cache.dialect.retrying`; the optimistic revision check runs again on
each try, so a retry can never overwrite a concurrent save.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal


from cache import dialect
from cache.db import database
from cache.models import Amend as AmendRow
from cache.models import Clause as ClauseRowModel
from cache.models import Contract as ContractModel
from cache.models import PortalEntry
from tickets import rules
from tickets.errors import InputError, RunError
from tickets.model import (
    Amend,
    AmendKind,
    Clause,
    ClauseType,
    Contract,
    PeriodType,
    Portal,
)

PORTAL_KINDS = (("project", "portal_projects"), ("user", "users"), ("organization", "organizations"))


class ConflictError(RunError):
    """The contract changed (or vanished) in the database since it was loaded."""


class InvalidContractError(InputError):
    """A contract failed :func:`tickets.rules.validate_contract`.

    ``problems`` is every ``(path, message)``; ``str()`` is the first one plus
    a count (one line for the CLI); :meth:`lines` gives one line per problem.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        first = self.lines()[0] if self.problems else "invalid contract"
        more = len(self.problems) - 1
        super().__init__(f"{first} (and {more} more)" if more > 0 else first)

    def lines(self) -> list[str]:
        return [f"{p}: {m}" if p else m for p, m in self.problems]


@dataclass(frozen=True)
class ContractRow:
    """A light listing row (no clauses)."""

    id: int
    name: str
    period_type: PeriodType
    start: dt.date
    end: dt.date
    time_zone: str
    revision: int


@dataclass(frozen=True)
class ImportResult:
    created: int
    replaced: int
    names: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.created + self.replaced


# --- helpers ---------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _write_transaction():
    if database.obj is None:
        raise RunError("no database is open")
    return dialect.write_transaction()


def _row_by_name(name: str) -> ContractModel | None:
    return ContractModel.get_or_none(ContractModel.name_key == rules.name_key(name))


def _unknown(name: str) -> InputError:
    names = [r.name for r in ContractModel.select(ContractModel.name)]
    by_key = {n.casefold(): n for n in names}
    key = name.strip().casefold()
    close = [k for k in sorted(by_key) if key and key in k]
    close += [k for k in difflib.get_close_matches(key, list(by_key), n=3, cutoff=0.6) if k not in close]
    close = close[:3]
    hint = ""
    if close:
        hint = "; did you mean " + " or ".join(repr(by_key[c]) for c in close) + "?"
    return InputError(f"no contract named {name!r}{hint}")


def _require(name: str) -> ContractModel:
    row = _row_by_name(name)
    if row is None:
        raise _unknown(name)
    return row


def _build(rows: Iterable[ContractModel]) -> list[Contract]:
    """Domain contracts for contract rows: four queries in all, whatever the count."""
    rows = list(rows)
    if not rows:
        return []
    ids = [r.id for r in rows]
    clauses = list(ClauseRowModel.select().where(ClauseRowModel.contract.in_(ids))
                   .order_by(ClauseRowModel.contract, ClauseRowModel.position))
    amends: dict[int, list[Amend]] = {}
    if clauses:
        for a in (AmendRow.select().where(AmendRow.clause.in_([c.id for c in clauses]))
                  .order_by(AmendRow.clause, AmendRow.position)):
            amends.setdefault(a.clause_id, []).append(
                Amend(date=a.date, kind=AmendKind(a.kind), value=int(a.value_units), notes=a.notes))
    by_contract: dict[int, list[Clause]] = {}
    for c in clauses:
        by_contract.setdefault(c.contract_id, []).append(Clause(
            name=c.name, type=ClauseType(c.type), jql=c.jql,
            limit=None if c.limit_units is None else int(c.limit_units),
            sla=tuple(c.sla or ()), target=None if c.target is None else Decimal(c.target),
            amends=tuple(amends.get(c.id, ())),
        ))
    portal: dict[int, dict[str, list[str]]] = {}
    for p in (PortalEntry.select().where(PortalEntry.contract.in_(ids))
              .order_by(PortalEntry.contract, PortalEntry.kind, PortalEntry.position)):
        portal.setdefault(p.contract_id, {}).setdefault(p.kind, []).append(p.value)
    out = []
    for r in rows:
        entries = portal.get(r.id, {})
        out.append(Contract(
            name=r.name, start=r.start, end=r.end, time_zone=r.time_zone,
            period_type=PeriodType(r.period_type), carry_over=bool(r.carry_over), borrowing=bool(r.borrowing),
            clauses=tuple(by_contract.get(r.id, ())),
            portal=Portal(help_center=bool(r.help_center),
                          **{attr: tuple(entries.get(kind, ())) for kind, attr in PORTAL_KINDS}),
            notes=r.notes or "",
        ))
    return out


def _validate(contract: Contract, path: str = "") -> list[tuple[str, str]]:
    return rules.validate_contract(contract, path)


def _contract_fields(contract: Contract) -> dict:
    fields = {
        "name": contract.name,
        "name_key": rules.name_key(contract.name),
        "start": contract.start,
        "end": contract.end,
        "time_zone": contract.time_zone,
        "period_type": PeriodType(contract.period_type).value,
        "carry_over": contract.carry_over,
        "borrowing": contract.borrowing,
        "help_center": contract.portal.help_center,
        "notes": contract.notes,
    }
    return fields


def _delete_children(contract_id: int) -> None:
    """Delete clauses, amends and portal entries explicitly (not relying on the cascade)."""
    clause_ids = ClauseRowModel.select(ClauseRowModel.id).where(ClauseRowModel.contract == contract_id)
    # PostgreSQL: lock the clause rows in id order first (the sync locks them in the same order)
    list(dialect.lock_for_update(clause_ids.order_by(ClauseRowModel.id)).tuples())
    AmendRow.delete().where(AmendRow.clause.in_(clause_ids)).execute()
    ClauseRowModel.delete().where(ClauseRowModel.contract == contract_id).execute()
    PortalEntry.delete().where(PortalEntry.contract == contract_id).execute()


def _write_children(contract_id: int, contract: Contract) -> None:
    """(Re)write clauses, amends and portal entries of one contract row."""
    _delete_children(contract_id)
    for position, clause in enumerate(contract.clauses):
        row = ClauseRowModel.create(
            contract=contract_id, position=position, name=clause.name,
            type=ClauseType(clause.type).value, jql=clause.jql,
            limit_units=clause.limit if ClauseType(clause.type).has_quota else None,
            sla=list(clause.sla), target=None if clause.target is None else str(clause.target),
        )
        if clause.amends:
            AmendRow.insert_many([
                {"clause": row.id, "position": i, "date": a.date, "kind": AmendKind(a.kind).value,
                 "value_units": a.value, "notes": a.notes}
                for i, a in enumerate(clause.amends)
            ]).execute()
    entries = [
        {"contract": contract_id, "kind": kind, "value": value, "position": i}
        for kind, attr in PORTAL_KINDS
        for i, value in enumerate(getattr(contract.portal, attr))
    ]
    if entries:
        PortalEntry.insert_many(entries).execute()


def _create(contract: Contract) -> int:
    now = _now()
    row = ContractModel.create(**_contract_fields(contract), revision=1, created_at=now, updated_at=now)
    _write_children(row.id, contract)
    return 1


def _replace(row: ContractModel, contract: Contract, expected: int) -> int:
    """Overwrite ``row`` if it is still at revision ``expected``; the new revision."""
    new_revision = expected + 1
    updated = (ContractModel.update(**_contract_fields(contract), revision=new_revision, updated_at=_now())
               .where((ContractModel.id == row.id) & (ContractModel.revision == expected))
               .execute())
    if updated != 1:
        raise ConflictError(f"contract {row.name!r} was changed by someone else since you opened it")
    _write_children(row.id, contract)
    return new_revision


# --- public API ----------------------------------------------------------------------------


def list_contracts() -> list[ContractRow]:
    """Every contract, light (no clauses), sorted by name case-insensitively."""
    rows = [
        ContractRow(id=r.id, name=r.name, period_type=PeriodType(r.period_type), start=r.start, end=r.end,
                    time_zone=r.time_zone, revision=r.revision)
        for r in ContractModel.select(ContractModel.id, ContractModel.name, ContractModel.period_type,
                                      ContractModel.start, ContractModel.end, ContractModel.time_zone,
                                      ContractModel.revision)
    ]
    return sorted(rows, key=lambda r: (r.name.casefold(), r.name))


def load_contract_with_revision(name: str) -> tuple[int, int, Contract]:
    """``(row id, revision, contract)`` by name (case-insensitive); InputError if unknown.

    Read in one snapshot: the revision always belongs to the clauses returned.
    """
    with dialect.read_snapshot():
        row = _require(name)
        return row.id, row.revision, _build([row])[0]


def load_contract(name: str) -> Contract:
    """One contract by name (case-insensitive); InputError naming close matches if unknown."""
    return load_contract_with_revision(name)[2]


def load_all_contracts(*, order: str = "name") -> list[Contract]:
    """Every contract with clauses, amends and portal.

    ``order="name"``: by name case-insensitively; ``order="created"``: in the
    order they were first created (import order; a replace keeps its place),
    which makes ``export`` of a fresh import reproduce the file.
    """
    if order not in ("created", "name"):
        raise ValueError(f"unknown order {order!r}")
    with dialect.read_snapshot():
        if order == "created":
            return _build(ContractModel.select().order_by(ContractModel.id))
        contracts = _build(ContractModel.select())
    return sorted(contracts, key=lambda c: (c.name.casefold(), c.name))


def save_contract(contract: Contract, *, expected_revision: int | None = None,
                  replace_name: str | None = None, notes: str | None = None) -> int:
    """Create or replace one contract; return its new revision.

    * The contract is validated first (:class:`InvalidContractError`).
    * The row replaced is the one named ``replace_name`` (the name the editor
      loaded; lets a save rename), else the one named ``contract.name``; none
      means create.  Renaming onto another contract's name is an InputError.
    * ``expected_revision`` (the revision the caller loaded) turns on the
      optimistic lock: if the stored revision differs, or the contract was
      deleted meanwhile, :class:`ConflictError` and nothing is written.
      ``expected_revision=0`` means "this is a new contract": if one of that
      name appeared meanwhile, ConflictError.
    * The notes written are ``contract.notes``.  ``notes`` (kept for
      compatibility) overrides them when not None; it is validated like
      ``contract.notes``.
    * One transaction, retried as a whole on a transient failure
      (:func:`cache.dialect.retrying`): callers need no transaction of their
      own (one around it would turn the retry off).
    """
    if notes is not None:
        contract = dataclasses.replace(contract, notes=notes)
    problems = _validate(contract)
    if problems:
        raise InvalidContractError(problems)
    return dialect.retrying(lambda: _save(contract, expected_revision, replace_name),
                            what="saving the contract")


def _save(contract: Contract, expected_revision: int | None, replace_name: str | None) -> int:
    with _write_transaction():
        target = _row_by_name(replace_name if replace_name is not None else contract.name)
        if replace_name is not None and target is None and expected_revision is None:
            raise _unknown(replace_name)
        if target is None:
            if expected_revision:  # it existed when the caller loaded it
                raise ConflictError(f"contract {replace_name or contract.name!r} was deleted by someone else "
                                    "since you opened it")
            clash = _row_by_name(contract.name)
            if clash is not None:
                raise InputError(f"a contract named {clash.name!r} already exists")
            return _create(contract)
        if expected_revision is not None and target.revision != expected_revision:
            if expected_revision == 0:
                raise ConflictError(f"contract {target.name!r} was created by someone else since you opened the editor")
            raise ConflictError(f"contract {target.name!r} was changed by someone else since you opened it")
        clash = _row_by_name(contract.name)
        if clash is not None and clash.id != target.id:
            raise InputError(f"a contract named {clash.name!r} already exists")
        return _replace(target, contract, target.revision)


def import_contracts(contracts: Sequence[Contract]) -> ImportResult:
    """Create or replace each contract by name (case-insensitive): all or nothing.

    Every contract is validated first (paths ``contracts[i]....``); names must
    be unique within ``contracts``.  Then one transaction writes them all.
    """
    problems: list[tuple[str, str]] = []
    for i, contract in enumerate(contracts):
        problems.extend(_validate(contract, f"contracts[{i}]"))
    for i, msg in rules.duplicate_name_indexes([str(c.name) for c in contracts]):
        problems.append((f"contracts[{i}].name", msg))
    if problems:
        raise InvalidContractError(problems)

    def write() -> tuple[int, int]:
        created = replaced = 0
        with _write_transaction():
            for contract in contracts:
                row = _row_by_name(contract.name)
                if row is None:
                    _create(contract)
                    created += 1
                else:
                    _replace(row, contract, row.revision)
                    replaced += 1
        return created, replaced

    created, replaced = dialect.retrying(write, what="importing contracts")
    return ImportResult(created=created, replaced=replaced, names=tuple(c.name for c in contracts))


def delete_contract(name: str) -> None:
    """Delete one contract with its clauses, amends and portal entries; InputError if unknown."""
    def write() -> None:
        with _write_transaction():
            row = _require(name)
            _delete_children(row.id)
            ContractModel.delete().where(ContractModel.id == row.id).execute()

    dialect.retrying(write, what="deleting the contract")
