"""The contract file (interfaces.md "Contract file"): read, validate, write.

Reading validates the *whole* file first and collects every problem with its
place (``contracts[0].clauses[1].limit: must be >= 0``); if there is any
problem, :class:`ContractFileError` carries all of them and nothing is
returned.  The field rules themselves live in :mod:`tickets.rules`; this
module only checks the file's shape (JSON types, required and unknown fields)
and maps file units to model units (hours in the file, seconds in the model).

JSON is read with exact decimals (``12.35`` stays ``Decimal("12.35")``).  A
file whose name ends in ``.toml`` is read as TOML (same shape: a
``[[contracts]]`` array of tables, ``[[contracts.clauses]]`` ...; TOML dates
may be bare dates).  Writing is JSON only.

Canonical form (what :func:`dump_contract_file` writes; a file in this form
round-trips byte for byte):

* ``{"contracts": [...]}``, indented by 2 spaces, UTF-8 text (non-ASCII kept
  as is), keys in the order below, a trailing newline;
* contract: ``name, start, end, time_zone, period_type, carry_over,
  borrowing, clauses, portal`` -- all always written -- then ``notes`` only
  when it is not empty (so files without notes keep their exact form);
* clause: ``name, type, jql`` always; for ``issue_count`` / ``service_hours``
  then ``"limit": N`` or ``"unlimited": true`` (``unlimited`` is never written
  as ``false``), and ``amends`` only when there are some; for
  ``sla_success_rate`` then ``sla`` and ``target`` (always, default 100);
* amend: ``date, kind, value, notes`` (``notes`` always, maybe ``""``);
* portal: ``help_center, portal_projects, users, organizations`` always;
* numbers: hours in hours, issues as counts; an integer when whole
  (``50``, not ``50.0``), else the exact decimal without trailing zeros
  (``12.5``, ``99.75``).

Defaults when reading: ``carry_over`` / ``borrowing`` false, ``clauses`` and
portal lists empty, ``help_center`` false, ``jql`` ``""``, ``target`` 100,
``notes`` ``""`` (contract and amend; a contract's notes are a string of at
most 10,000 characters).  A quota clause needs ``limit`` or
``"unlimited": true``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tickets import rules
from tickets.errors import InputError
from tickets.model import (
    SECONDS_PER_HOUR,
    Amend,
    AmendKind,
    Clause,
    ClauseType,
    Contract,
    Portal,
)

CONTRACT_FIELDS = (
    "name", "start", "end", "time_zone", "period_type", "carry_over", "borrowing", "clauses", "portal", "notes"
)
CLAUSE_FIELDS = ("name", "type", "jql", "limit", "unlimited", "sla", "target", "amends")
AMEND_FIELDS = ("date", "kind", "value", "notes")
PORTAL_FIELDS = ("help_center", "portal_projects", "users", "organizations")


@dataclass(frozen=True)
class FileProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ContractFileError(InputError):
    """Every problem of a contract file; ``str()`` is the first one plus a count."""

    def __init__(self, problems: Sequence[FileProblem], source: str = "<file>") -> None:
        self.problems = list(problems)
        self.source = source
        first = str(self.problems[0]) if self.problems else "invalid contract file"
        more = len(self.problems) - 1
        super().__init__(f"{first} (and {more} more)" if more > 0 else first)

    def lines(self) -> list[str]:
        """One line per problem, for printing the full list."""
        return [str(p) for p in self.problems]


# --- reading -----------------------------------------------------------------------


class _Obj(dict):
    """A JSON object that remembers keys given more than once."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj()
    dups = []
    for key, value in pairs:
        if key in obj:
            dups.append(key)
        obj[key] = value
    obj.duplicates = tuple(dups)
    return obj


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, _dt.time):
        return "a time"
    return type(value).__name__


class _Reader:
    def __init__(self) -> None:
        self.problems: list[FileProblem] = []

    def add(self, path: str, message: str | None) -> None:
        if message:
            self.problems.append(FileProblem(path, message))

    # shape helpers: each returns the value, or None after recording a problem

    def obj(self, value: Any, path: str, allowed: Sequence[str], required: Sequence[str]) -> dict | None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object, not {_kind(value)}")
            return None
        for key in getattr(value, "duplicates", ()):
            self.add(_join(path, key), "is given more than once")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.add(_join(path, str(key)), f"unknown field{hint}")
        for key in required:
            if key not in value:
                self.add(_join(path, key), "is required")
        return value

    def string(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_kind(value)}")
            return None
        return value

    def number(self, value: Any, path: str) -> Decimal | int | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            self.add(path, f"must be a number, not {_kind(value)}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {_kind(value)}")
            return None
        return value

    def str_list(self, value: Any, path: str) -> list[str] | None:
        if not isinstance(value, list):
            self.add(path, f"must be a list, not {_kind(value)}")
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.add(f"{path}[{i}]", f"must be a string, not {_kind(item)}")
                ok = False
        return value if ok else None

    def date(self, value: Any, path: str) -> _dt.date | None:
        if not isinstance(value, (_dt.date, str)):  # a datetime is judged by the rule
            self.add(path, f"must be a date string YYYY-MM-DD, not {_kind(value)}")
            return None
        return self.rule(rules.parse_date, path, value)

    def rule(self, parse: Callable[..., Any], path: str, *args: Any) -> Any:
        try:
            return parse(*args)
        except rules.RuleError as exc:
            self.add(path, str(exc))
            return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _read_amend(r: _Reader, raw: Any, path: str, ctype: ClauseType, limited: bool) -> Amend | None:
    d = r.obj(raw, path, AMEND_FIELDS, ("date", "kind", "value"))
    if d is None:
        return None
    n = len(r.problems)
    date = r.date(d["date"], f"{path}.date") if "date" in d else None
    kind = None
    if "kind" in d and r.string(d["kind"], f"{path}.kind") is not None:
        kind = r.rule(rules.parse_amend_kind, f"{path}.kind", d["kind"])
        if kind is not None:
            r.add(f"{path}.kind", rules.check_amend_allowed(ctype, limited, kind))
    value = None
    if "value" in d and r.number(d["value"], f"{path}.value") is not None:
        value = r.rule(rules.parse_amend_value, f"{path}.value", ctype, d["value"])
    notes = ""
    if "notes" in d:
        notes = r.string(d["notes"], f"{path}.notes") or ""
    if len(r.problems) > n:
        return None
    return Amend(date=date, kind=kind, value=value, notes=notes)


def _read_clause(r: _Reader, raw: Any, path: str) -> Clause | None:
    d = r.obj(raw, path, CLAUSE_FIELDS, ("name", "type"))
    if d is None:
        return None
    n = len(r.problems)
    name = None
    if "name" in d and r.string(d["name"], f"{path}.name") is not None:
        name = r.rule(rules.parse_clause_name, f"{path}.name", d["name"])
    ctype = None
    if "type" in d and r.string(d["type"], f"{path}.type") is not None:
        ctype = r.rule(rules.parse_clause_type, f"{path}.type", d["type"])
    jql = ""
    if "jql" in d:
        jql = r.string(d["jql"], f"{path}.jql") or ""

    limit = None
    sla: tuple[str, ...] = ()
    target = None
    amends: list[Amend | None] = []
    if ctype is None:
        pass  # the type is wrong or missing: nothing type-dependent can be judged
    elif ctype.has_quota:
        for field in ("sla", "target"):
            if field in d:
                r.add(f"{path}.{field}", rules.check_quota_field_allowed(ctype, field))
        unlimited: bool | None = False
        if "unlimited" in d:
            unlimited = r.boolean(d["unlimited"], f"{path}.unlimited")
        if unlimited is None:
            pass  # "unlimited" is not a bool: whether a limit is needed is unknown
        elif unlimited and "limit" in d:
            r.add(f"{path}.limit", 'must not be given with "unlimited": true')
        elif not unlimited and "limit" not in d and "unlimited" not in d:
            r.add(f"{path}.limit", 'is required (or "unlimited": true)')
        elif not unlimited and "limit" not in d:
            r.add(f"{path}.limit", 'is required when "unlimited" is false')
        elif "limit" in d and r.number(d["limit"], f"{path}.limit") is not None:
            limit = r.rule(rules.parse_limit, f"{path}.limit", ctype, d["limit"])
        if "amends" in d and isinstance(d["amends"], list):
            for j, item in enumerate(d["amends"]):
                amends.append(_read_amend(r, item, f"{path}.amends[{j}]", ctype, unlimited is not True))
        elif "amends" in d:
            r.add(f"{path}.amends", f"must be a list, not {_kind(d['amends'])}")
    else:
        for field in ("limit", "unlimited"):
            if field in d:
                r.add(f"{path}.{field}", rules.check_quota_field_allowed(ctype, field))
        if "amends" in d and d["amends"] != []:
            r.add(f"{path}.amends", rules.check_quota_field_allowed(ctype, "amends"))
        if "sla" not in d:
            r.add(f"{path}.sla", "is required for sla_success_rate clauses")
        elif r.str_list(d["sla"], f"{path}.sla") is not None:
            sla = r.rule(rules.parse_sla, f"{path}.sla", d["sla"]) or ()
        if "target" in d:
            if r.number(d["target"], f"{path}.target") is not None:
                target = r.rule(rules.parse_target, f"{path}.target", d["target"])
        else:
            target = rules.parse_target(None)
    if len(r.problems) > n or name is None or ctype is None:
        return None
    return Clause(
        name=name, type=ctype, jql=jql, limit=limit, sla=sla, target=target, amends=tuple(amends)  # type: ignore[arg-type]
    )


def _read_portal(r: _Reader, raw: Any, path: str) -> Portal | None:
    d = r.obj(raw, path, PORTAL_FIELDS, ())
    if d is None:
        return None
    n = len(r.problems)
    help_center = False
    if "help_center" in d:
        help_center = bool(r.boolean(d["help_center"], f"{path}.help_center"))
    lists: dict[str, tuple[str, ...]] = {}
    parsers = {
        "portal_projects": rules.parse_portal_projects,
        "users": rules.parse_portal_users,
        "organizations": rules.parse_portal_organizations,
    }
    for field, parse in parsers.items():
        lists[field] = ()
        if field in d and r.str_list(d[field], f"{path}.{field}") is not None:
            lists[field] = r.rule(parse, f"{path}.{field}", d[field]) or ()
    if len(r.problems) > n:
        return None
    return Portal(help_center=help_center, **lists)


def _read_contract(r: _Reader, raw: Any, path: str) -> Contract | None:
    d = r.obj(raw, path, CONTRACT_FIELDS, ("name", "start", "end", "time_zone", "period_type"))
    if d is None:
        return None
    n = len(r.problems)
    p = lambda field: f"{path}.{field}" if path else field  # noqa: E731
    name = None
    if "name" in d and r.string(d["name"], p("name")) is not None:
        name = r.rule(rules.parse_contract_name, p("name"), d["name"])
    start = r.date(d["start"], p("start")) if "start" in d else None
    end = r.date(d["end"], p("end")) if "end" in d else None
    if start is not None and end is not None:
        r.add(p("end"), rules.check_date_order(start, end))
    time_zone = None
    if "time_zone" in d and r.string(d["time_zone"], p("time_zone")) is not None:
        time_zone = r.rule(rules.parse_time_zone, p("time_zone"), d["time_zone"])
    period_type = None
    if "period_type" in d and r.string(d["period_type"], p("period_type")) is not None:
        period_type = r.rule(rules.parse_period_type, p("period_type"), d["period_type"])
    flags = {}
    for field in ("carry_over", "borrowing"):
        flags[field] = bool(r.boolean(d[field], p(field))) if field in d else False
    clauses: list[Clause | None] = []
    if "clauses" in d:
        if isinstance(d["clauses"], list):
            for i, item in enumerate(d["clauses"]):
                clauses.append(_read_clause(r, item, f"{p('clauses')}[{i}]"))
            named = [
                (i, item["name"].strip())
                for i, item in enumerate(d["clauses"])
                if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip()
            ]
            for k, msg in rules.duplicate_name_indexes([nm for _, nm in named]):
                r.add(f"{p('clauses')}[{named[k][0]}].name", msg)
        else:
            r.add(p("clauses"), f"must be a list, not {_kind(d['clauses'])}")
    portal = Portal()
    if "portal" in d:
        portal = _read_portal(r, d["portal"], p("portal")) or Portal()
    notes = ""
    if "notes" in d and r.string(d["notes"], p("notes")) is not None:
        r.add(p("notes"), rules.check_contract_notes(d["notes"]))
        notes = d["notes"]
    if len(r.problems) > n:
        return None
    return Contract(
        name=name,  # type: ignore[arg-type]
        start=start,  # type: ignore[arg-type]
        end=end,  # type: ignore[arg-type]
        time_zone=time_zone,  # type: ignore[arg-type]
        period_type=period_type,  # type: ignore[arg-type]
        clauses=tuple(clauses),  # type: ignore[arg-type]
        portal=portal,
        notes=notes,
        **flags,
    )


def contract_from_dict(d: Any, path: str = "contracts[0]") -> tuple[Contract | None, list[FileProblem]]:
    """One contract object of the file (already decoded) -> the contract, or ``None`` and its problems."""
    r = _Reader()
    contract = _read_contract(r, d, path)
    return (contract if not r.problems else None), r.problems


def _decode(text: str, fmt: str) -> Any:
    """JSON or TOML text -> plain data, or raises ContractFileError (one problem)."""
    if fmt == "toml":
        try:
            return tomllib.loads(text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise ContractFileError([FileProblem("", f"invalid TOML: {exc}")]) from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=Decimal,
        )
    except json.JSONDecodeError as exc:
        raise ContractFileError(
            [FileProblem("", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ContractFileError([FileProblem("", f"invalid JSON: {exc}")]) from None


def parse_contract_file(text: str, *, source: str = "<file>", fmt: str | None = None) -> list[Contract]:
    """Every contract of a contract file, or :class:`ContractFileError` with every problem.

    ``fmt`` is ``"json"`` or ``"toml"``; by default TOML when ``source`` ends
    in ``.toml``, else JSON.
    """
    if fmt is None:
        fmt = "toml" if str(source).lower().endswith(".toml") else "json"
    if fmt not in {"json", "toml"}:
        raise ValueError(f"unknown contract file format {fmt!r}")
    try:
        data = _decode(text, fmt)
    except ContractFileError as exc:
        raise ContractFileError(exc.problems, source) from None
    r = _Reader()
    contracts: list[Contract] = []
    root = r.obj(data, "", ("contracts",), ("contracts",))
    if root is not None and "contracts" in root:
        items = root["contracts"]
        if not isinstance(items, list):
            r.add("contracts", f"must be a list, not {_kind(items)}")
        else:
            for i, item in enumerate(items):
                c = _read_contract(r, item, f"contracts[{i}]")
                if c is not None:
                    contracts.append(c)
            named = [
                (i, item["name"].strip())
                for i, item in enumerate(items)
                if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip()
            ]
            for k, msg in rules.duplicate_name_indexes([nm for _, nm in named]):
                r.add(f"contracts[{named[k][0]}].name", msg)
    elif root is None:
        r.problems[-1] = FileProblem("", 'the file must be an object with a "contracts" list')
    if r.problems:
        raise ContractFileError(r.problems, source)
    return contracts


def load_contract_file(path: str | os.PathLike[str]) -> list[Contract]:
    """Read and parse a contract file (``.toml`` -> TOML, else JSON)."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ContractFileError([FileProblem("", f"cannot read {source}: {reason}")], source) from None
    return parse_contract_file(text, source=source)


# --- writing -------------------------------------------------------------------------


def _number(d: Decimal) -> int | Decimal:
    if d == d.to_integral_value():
        return int(d)
    return d.normalize()


def _file_units(ctype: ClauseType, units: int) -> int | Decimal:
    if ctype is ClauseType.SERVICE_HOURS:
        if units % rules.SECONDS_PER_HUNDREDTH:
            raise ValueError(f"{units} s is not a whole hundredth of an hour")
        return _number(Decimal(units) / SECONDS_PER_HOUR)
    return int(units)


def _amend_to_dict(ctype: ClauseType, a: Amend) -> dict[str, Any]:
    return {
        "date": a.date.isoformat(),
        "kind": AmendKind(a.kind).value,
        "value": _file_units(ctype, a.value),
        "notes": a.notes,
    }


def _clause_to_dict(c: Clause) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "type": c.type.value, "jql": c.jql}
    if c.type.has_quota:
        if c.limit is None:
            out["unlimited"] = True
        else:
            out["limit"] = _file_units(c.type, c.limit)
        if c.amends:
            out["amends"] = [_amend_to_dict(c.type, a) for a in c.amends]
    else:
        out["sla"] = list(c.sla)
        out["target"] = _number(c.target if c.target is not None else rules.DEFAULT_TARGET)
    return out


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """The canonical file form of one contract (numbers: ``int`` or exact ``Decimal``)."""
    c = contract
    out: dict[str, Any] = {
        "name": c.name,
        "start": c.start.isoformat(),
        "end": c.end.isoformat(),
        "time_zone": c.time_zone,
        "period_type": c.period_type.value,
        "carry_over": c.carry_over,
        "borrowing": c.borrowing,
        "clauses": [_clause_to_dict(cl) for cl in c.clauses],
        "portal": {
            "help_center": c.portal.help_center,
            "portal_projects": list(c.portal.portal_projects),
            "users": list(c.portal.users),
            "organizations": list(c.portal.organizations),
        },
    }
    if c.notes:
        out["notes"] = c.notes
    return out


def _emit(value: Any, level: int) -> str:
    """``json.dumps(indent=2, ensure_ascii=False)`` that also writes ``Decimal`` exactly."""
    pad = "  " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ",\n".join(
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_emit(v, level + 1)}" for k, v in value.items()
        )
        return "{\n" + items + "\n" + "  " * level + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = ",\n".join(f"{pad}{_emit(v, level + 1)}" for v in value)
        return "[\n" + items + "\n" + "  " * level + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} to a contract file")
        return format(value, "f")
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} to a contract file")


def dump_contract_file(contracts: Sequence[Contract]) -> str:
    """The canonical contract file text (JSON, indent 2, trailing newline)."""
    return _emit({"contracts": [contract_to_dict(c) for c in contracts]}, 0) + "\n"
