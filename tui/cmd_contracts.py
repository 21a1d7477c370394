"""`ticketbook contracts ...` (interfaces.md): list, import, export, delete.

- ``contracts list [--format table|json]``: name, period type, dates, the
  current period (``3/12 (2025-03-01..2025-03-31)``, from ``--as-of`` or the
  contract's local today) and a status column (:func:`current_status_for`).
- ``contracts import FILE`` (``-`` = stdin): validates the whole file, prints
  every problem as ``FILE: PATH: MESSAGE`` on stderr and writes nothing
  (exit 2); else ``imported N contracts (C created, R replaced)``.
- ``contracts export [NAME...]``: the contract file on stdout (all, in the
  order they were created, or the named ones in the order given; an unknown
  name exits 2, printing nothing).
- ``contracts delete NAME [--yes]``: asks first on a terminal unless --yes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from cache import store
from cache.db import opened_database
from tickets.contractfile import ContractFileError, dump_contract_file, load_contract_file, parse_contract_file
from tickets.errors import InputError, TicketbookError
from tickets.model import Contract
from tickets.periods import Period, contract_periods, current_period_index


def register(sub, common) -> None:
    """Add ``contracts`` and its actions to `sub`; `common` holds the global options."""
    contracts = sub.add_parser("contracts", parents=[common], help="list, import, export and delete contracts",
                               description="Manage contracts (the tool's own data, kept in the database).")
    actions = contracts.add_subparsers(dest="contracts_action", metavar="ACTION", parser_class=type(contracts))
    contracts.set_defaults(handler=lambda args: _usage(contracts))

    p = actions.add_parser("list", parents=[common], help="name, period type, dates, current period, status")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=run_list)

    p = actions.add_parser("import", parents=[common], help="create or replace contracts from a file (all or nothing)")
    p.add_argument("file", metavar="FILE", help="contract file (.json, or .toml); '-' reads JSON from stdin")
    p.set_defaults(handler=run_import)

    p = actions.add_parser("export", parents=[common], help="write the contract file to stdout")
    p.add_argument("names", metavar="NAME", nargs="*", help="contracts to export (default: all)")
    p.set_defaults(handler=run_export)

    p = actions.add_parser("delete", parents=[common], help="delete one contract")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=run_delete)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("ticketbook contracts: error: choose an action (list, import, export, delete)", file=sys.stderr)
    return 2




# --- list -----------------------------------------------------------------------------


def current_status_for(contract: Contract, today: dt.date) -> str:
    """The STATUS column of ``contracts list``: the current period's status.

    ``"ok"``, ``"at risk: A"``, ``"over: B; at risk: A"`` (``invalid: C`` for
    clauses whose JQL is invalid or still pending), ``"not started"`` before
    the contract starts; see :mod:`cache.reports` for what "at risk" means.
    """
    from cache.reports import current_status  # lazy: the report engine is only needed here

    try:
        return current_status(contract, today)
    except TicketbookError as exc:
        return f"error: {exc}"



def _current(contract: Contract, today: dt.date) -> tuple[Period | None, int]:
    periods = contract_periods(contract)
    index = current_period_index(periods, today)
    period = next((p for p in periods if p.index == index), None) if index is not None else None
    return period, len(periods)


def format_current(period: Period | None, count: int, today: dt.date, contract: Contract) -> str:
    if period is None:
        return f"not started (starts {contract.start.isoformat()})" if today < contract.start else "-"
    text = f"{period.index + 1}/{count} ({period.start.isoformat()}..{period.end.isoformat()})"
    return text + " ended" if today > contract.end else text


def run_list(args: argparse.Namespace) -> int:
    from cache.reports import local_today  # lazy, like current_status_for

    with opened_database(args.db):
        rows = {r.name: r for r in store.list_contracts()}
        contracts = store.load_all_contracts()
        items = []
        for c in contracts:  # the status reads the cache: computed while the database is open
            today = local_today(c, args.as_of)
            period, count = _current(c, today)
            items.append((c, rows[c.name], today, period, count, current_status_for(c, today)))
    if args.format == "json":
        out = {"as_of": args.as_of.isoformat() if args.as_of else None, "contracts": [
            {"name": c.name, "period_type": c.period_type.value, "start": c.start.isoformat(),
             "end": c.end.isoformat(), "time_zone": c.time_zone, "revision": row.revision,
             "periods": count,
             "current_period": None if period is None else {
                 "index": period.index, "start": period.start.isoformat(), "end": period.end.isoformat()},
             "status": status}
            for c, row, today, period, count, status in items]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no contracts (import some: ticketbook contracts import FILE)", file=sys.stderr)
        return 0
    header = ("NAME", "PERIOD TYPE", "START", "END", "CURRENT PERIOD", "STATUS")
    table = [header] + [
        (c.name, c.period_type.value, c.start.isoformat(), c.end.isoformat(),
         format_current(period, count, today, c), status)
        for c, _row, today, period, count, status in items
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


# --- import / export / delete ----------------------------------------------------------------


def _print_problems(source: str, lines: list[str]) -> None:
    for line in lines:
        print(f"{source}: {line}", file=sys.stderr)
    n = len(lines)
    print(f"ticketbook: {source}: {n} problem{'s' if n != 1 else ''}; nothing imported", file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            contracts = parse_contract_file(sys.stdin.read(), source=source)
        else:
            contracts = load_contract_file(args.file)
    except ContractFileError as exc:
        _print_problems(source, exc.lines())
        return 2
    with opened_database(args.db):
        try:
            result = store.import_contracts(contracts)
        except store.InvalidContractError as exc:
            _print_problems(source, exc.lines())
            return 2
    n = result.total
    print(f"imported {n} contract{'s' if n != 1 else ''} ({result.created} created, {result.replaced} replaced)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with opened_database(args.db):
        if args.names:
            contracts = [store.load_contract(name) for name in args.names]  # all found before writing
        else:
            contracts = store.load_all_contracts(order="created")
    sys.stdout.write(dump_contract_file(contracts))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with opened_database(args.db):
        _id, _revision, contract = store.load_contract_with_revision(args.name)
        if not args.yes and sys.stdin.isatty():
            try:
                answer = input(f"delete contract {contract.name!r} and its {len(contract.clauses)} clause(s)? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in {"y", "yes"}:
                raise InputError("not deleted")
        store.delete_contract(contract.name)
    print(f"deleted contract {contract.name!r}")
    return 0
