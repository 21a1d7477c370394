"""Every input rule of domain.md, one small function per rule ("one rule, one place").

Two kinds of functions, both individually importable:

* ``check_*(...) -> str | None``: ``None`` when the value is fine, else one
  clear message starting in lower case ("must be >= 0").  The TUI's input
  validators and the contract-file importer call these.
* ``parse_*(...) -> value``: the same rule, returning the typed model value
  (``int`` units, ``Decimal`` target, ``date`` ...) or raising
  :class:`RuleError` (an :class:`~tickets.errors.InputError`, exit status 2)
  whose ``str()`` is the check's message.

Raw values may be text as typed by a user (``"12.5"``, ``" 3 "``) or already
typed values (``int``, ``Decimal``, ``date``, enum members).  ``bool`` is never
accepted as a number.  Floats are taken by their shortest ``repr`` (0.1 is
"0.1").

Rules decided here where domain.md is silent (documented for the project docs):

* contract names are trimmed, required, at most 200 characters, unique
  case-insensitively (``str.casefold`` after trimming); clause names likewise
  (unique within their contract) with the same 200-character cap;
* dates are ``YYYY-MM-DD`` exactly;
* numbers in text are plain decimals (``12``, ``12.5``, ``-3``); no
  exponents, thousands separators, NaN or infinity; at most
  :data:`MAX_NUMBER` in size (limits and amend values);
* an SLA list names each SLA once; blank entries are rejected;
* portal project keys look like Jira keys (a letter, then letters, digits,
  ``_``); users and organisations are non-blank strings;
* list-valued inputs given as text are split on commas;
* a contract's free-text ``notes`` are at most 10,000 characters.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from tickets.errors import InputError
from tickets.model import (
    SECONDS_PER_HOUR,
    AmendKind,
    Clause,
    ClauseType,
    Contract,
    PeriodType,
    hours_to_seconds,
)

NAME_MAX = 200
CONTRACT_NOTES_MAX = 10_000  # characters of a contract's free-text notes
MAX_NUMBER = Decimal(10) ** 9  # limits / amend values: issues or hours
DEFAULT_TARGET = Decimal(100)
SECONDS_PER_HUNDREDTH = SECONDS_PER_HOUR // 100  # 36: 0.01 h

_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_PROJECT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class RuleError(InputError, ValueError):
    """A value broke a rule; ``str()`` is the rule's message."""


def _fail(message: str) -> RuleError:
    return RuleError(message)


def _check(parse: Callable[..., Any], *args: Any) -> str | None:
    try:
        parse(*args)
    except RuleError as exc:
        return str(exc)
    return None


def _choices(enum: type) -> str:
    return ", ".join(m.value for m in enum)  # type: ignore[attr-defined]


# --- generic shapes ----------------------------------------------------------


def parse_decimal(raw: Any) -> Decimal:
    """A finite number from text or a number; ``bool`` rejected."""
    if isinstance(raw, bool):
        raise _fail("must be a number")
    if isinstance(raw, Decimal):
        d = raw
    elif isinstance(raw, int):
        d = Decimal(raw)
    elif isinstance(raw, float):
        d = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise _fail("is required")
        if not _DECIMAL_TEXT.fullmatch(text):
            raise _fail(f"must be a number, not {raw!r}")
        d = Decimal(text)
    elif raw is None:
        raise _fail("is required")
    else:
        raise _fail("must be a number")
    if not d.is_finite():
        raise _fail("must be a finite number")
    return d


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _units(clause_type: ClauseType, d: Decimal) -> int:
    """Issues or hours (already range-checked) to model units."""
    if clause_type is ClauseType.SERVICE_HOURS:
        if _decimals(d) > 2:
            raise _fail("must have at most 2 decimals")
        return hours_to_seconds(d)
    if d != d.to_integral_value():
        raise _fail("must be a whole number")
    return int(d)


def _as_str_list(raw: Any, *, split_text: bool = True) -> list[str]:
    if isinstance(raw, str) and split_text:
        return [part.strip() for part in raw.split(",")] if raw.strip() else []
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise _fail("must be a list")
    for item in raw:
        if not isinstance(item, str):
            raise _fail("must be a list of strings")
    return list(raw)


def parse_bool(raw: Any) -> bool:
    """``true``/``false`` (or a real ``bool``); yes/no/on/off/1/0 in text."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in {"true", "yes", "on", "1"}:
            return True
        if word in {"false", "no", "off", "0"}:
            return False
    raise _fail("must be true or false")


def check_bool(raw: Any) -> str | None:
    return _check(parse_bool, raw)


def _required_text(raw: Any) -> str:
    """A non-blank string, stripped (``is required`` / ``must be a string`` otherwise)."""
    if raw is None:
        raise _fail("is required")
    if not isinstance(raw, str):
        raise _fail("must be a string")
    text = raw.strip()
    if not text:
        raise _fail("is required")
    return text


# --- names -------------------------------------------------------------------


def _parse_name(raw: Any) -> str:
    name = _required_text(raw)
    if len(name) > NAME_MAX:
        raise _fail(f"must be at most {NAME_MAX} characters (has {len(name)})")
    return name


def parse_contract_name(raw: Any) -> str:
    """Required, trimmed, at most 200 characters."""
    return _parse_name(raw)


def check_contract_name(raw: Any) -> str | None:
    return _check(parse_contract_name, raw)


def parse_clause_name(raw: Any) -> str:
    """Required, trimmed, at most 200 characters."""
    return _parse_name(raw)


def check_clause_name(raw: Any) -> str | None:
    return _check(parse_clause_name, raw)


def name_key(name: str) -> str:
    """The key names are compared by: trimmed, case-folded."""
    return name.strip().casefold()


def check_unique_name(name: str, others: Iterable[str]) -> str | None:
    """``name`` must differ (case-insensitively) from every name in ``others``.

    For the TUI: ``others`` are the names of the *other* contracts (or the
    other clauses of the same contract).
    """
    key = name_key(name)
    for other in others:
        if name_key(other) == key:
            return f"duplicate name {name.strip()!r} (names are case-insensitive; {other.strip()!r} exists)"
    return None


def duplicate_name_indexes(names: Sequence[str]) -> list[tuple[int, str]]:
    """Every name equal (case-insensitively) to an earlier one: ``(index, message)``."""
    seen: dict[str, str] = {}
    found: list[tuple[int, str]] = []
    for i, name in enumerate(names):
        key = name_key(name)
        if key in seen:
            msg = f"duplicate name {name.strip()!r} (names are case-insensitive; {seen[key]!r} comes first)"
            found.append((i, msg))
        else:
            seen[key] = name.strip()
    return found


# --- dates, time zone, period type -------------------------------------------


def parse_date(raw: Any) -> _dt.date:
    """A calendar date: ``date`` or ``YYYY-MM-DD`` text (``datetime`` rejected)."""
    if isinstance(raw, _dt.datetime):
        raise _fail("must be a date YYYY-MM-DD, not a date and time")
    if isinstance(raw, _dt.date):
        return raw
    text = _required_text(raw)
    if not _DATE_TEXT.fullmatch(text):
        raise _fail(f"must be a date YYYY-MM-DD, not {raw!r}")
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{text!r} is not a valid date") from None


def check_date(raw: Any) -> str | None:
    return _check(parse_date, raw)


def check_periods(start: _dt.date, end: _dt.date, period_type: PeriodType,
                  time_zone: str) -> tuple[str, str] | None:
    """``(field, message)`` when the periods of a contract with these (valid) settings cannot be computed.

    :func:`tickets.periods.split_periods` converts the dates to instants in
    ``time_zone``: ``end`` 9999-12-31 (its next midnight), or ``start``
    0001-01-01 in a zone east of UTC, is out of Python's range, and every
    report of such a contract would fail.  The message belongs to ``start``
    when that date alone cannot be converted, else to ``end``.
    """
    from tickets.periods import split_periods

    try:
        split_periods(start, end, period_type, time_zone)
    except (ValueError, OverflowError):
        pass
    else:
        return None
    try:
        split_periods(start, start, PeriodType.FIXED, time_zone)
    except (ValueError, OverflowError):
        return "start", (f"{start.isoformat()} is out of the supported range in the time zone {time_zone}"
                         " (the contract's periods cannot be computed): choose a later start date")
    return "end", (f"{end.isoformat()} is out of the supported range in the time zone {time_zone}"
                   " (the contract's periods cannot be computed): choose an earlier end date")


def check_date_order(start: _dt.date, end: _dt.date) -> str | None:
    """The message belongs to ``end``: contract dates are inclusive, ``end >= start``."""
    if end < start:
        return f"must be on or after the start date {start.isoformat()}"
    return None


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_time_zone(raw: Any) -> str:
    """An IANA time zone name (``Europe/Istanbul``, ``UTC``); exact spelling."""
    name = _required_text(raw)
    zones = _zones()
    if name in zones:
        return name
    if not zones:  # no zone list on this system (no tzdata): ask ZoneInfo
        try:
            ZoneInfo(name)
            return name
        except (ValueError, OSError, KeyError):
            pass
    raise _fail(f"unknown time zone {name!r}")


def check_time_zone(raw: Any) -> str | None:
    return _check(parse_time_zone, raw)


def _parse_enum(enum: type, what: str, raw: Any) -> Any:
    if isinstance(raw, enum):
        return raw
    text = _required_text(raw)
    try:
        return enum(text)
    except ValueError:
        raise _fail(f"unknown {what} {text!r} (expected one of: {_choices(enum)})") from None


def parse_period_type(raw: Any) -> PeriodType:
    return _parse_enum(PeriodType, "period type", raw)


def check_period_type(raw: Any) -> str | None:
    return _check(parse_period_type, raw)


def parse_clause_type(raw: Any) -> ClauseType:
    return _parse_enum(ClauseType, "clause type", raw)


def check_clause_type(raw: Any) -> str | None:
    return _check(parse_clause_type, raw)


def parse_amend_kind(raw: Any) -> AmendKind:
    return _parse_enum(AmendKind, "amend kind", raw)


def check_amend_kind(raw: Any) -> str | None:
    return _check(parse_amend_kind, raw)


# --- clause fields -------------------------------------------------------------


def check_jql(raw: Any) -> str | None:
    """Free text; may be empty or not parse (the clause is then marked invalid)."""
    return None if isinstance(raw, str) else "must be a string"


def parse_limit(clause_type: ClauseType | str, raw: Any) -> int:
    """A limit in model units: issues (whole, >= 0) or seconds (hours >= 0, 2 decimals)."""
    ctype = parse_clause_type(clause_type)
    if not ctype.has_quota:
        raise _fail("limits are not allowed on SLA success rate clauses")
    d = parse_decimal(raw)
    if d < 0:
        raise _fail("must be >= 0")
    if d > MAX_NUMBER:
        raise _fail(f"must be at most {MAX_NUMBER}")
    return _units(ctype, d)


def check_limit(clause_type: ClauseType | str, raw: Any) -> str | None:
    return _check(parse_limit, clause_type, raw)


def check_quota_field_allowed(clause_type: ClauseType | str, field: str) -> str | None:
    """``limit`` / ``unlimited`` / ``amends`` exist only on quota clauses; ``sla`` / ``target`` only on SLA ones."""
    ctype = parse_clause_type(clause_type)
    if field == "amends" and not ctype.has_quota:
        return "amends are not allowed on SLA success rate clauses"
    if field in {"limit", "unlimited"} and not ctype.has_quota:
        return f"{field} is not allowed on SLA success rate clauses"
    if field in {"sla", "target"} and ctype.has_quota:
        return f"{field} is only allowed on sla_success_rate clauses"
    return None


def parse_sla(raw: Any) -> tuple[str, ...]:
    """One or more JSM SLA names, each once; text is split on commas."""
    names = _as_str_list(raw)
    if not names:
        raise _fail("must name at least one SLA")
    seen: set[str] = set()
    for name in names:
        if not name.strip():
            raise _fail("SLA names must not be blank")
        if name.strip().casefold() in seen:
            raise _fail(f"lists SLA {name.strip()!r} twice")
        seen.add(name.strip().casefold())
    return tuple(name.strip() for name in names)


def check_sla(raw: Any) -> str | None:
    return _check(parse_sla, raw)


def parse_target(raw: Any = None) -> Decimal:
    """A success-rate target percent: ``0 < target <= 100``, at most 2 decimals; default 100."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_TARGET
    d = parse_decimal(raw)
    if d <= 0:
        raise _fail("must be greater than 0")
    if d > 100:
        raise _fail("must be at most 100")
    if _decimals(d) > 2:
        raise _fail("must have at most 2 decimals")
    return d


def check_target(raw: Any = None) -> str | None:
    return _check(parse_target, raw)


# --- amends --------------------------------------------------------------------


def parse_amend_value(clause_type: ClauseType | str, raw: Any) -> int:
    """A non-zero amend value in model units (negative allowed)."""
    ctype = parse_clause_type(clause_type)
    if not ctype.has_quota:
        raise _fail("amends are not allowed on SLA success rate clauses")
    d = parse_decimal(raw)
    if d == 0:
        raise _fail("must not be 0")
    if abs(d) > MAX_NUMBER:
        raise _fail(f"must be between -{MAX_NUMBER} and {MAX_NUMBER}")
    return _units(ctype, d)


def check_amend_value(clause_type: ClauseType | str, raw: Any) -> str | None:
    return _check(parse_amend_value, clause_type, raw)


def check_amend_allowed(
    clause_type: ClauseType | str, limited: bool, kind: AmendKind | str | None = None
) -> str | None:
    """Amends never on SLA clauses; limit amends never on unlimited clauses."""
    ctype = parse_clause_type(clause_type)
    if not ctype.has_quota:
        return "amends are not allowed on SLA success rate clauses"
    if kind is not None and parse_amend_kind(kind) is AmendKind.LIMIT and not limited:
        return "limit amends are not allowed on unlimited clauses"
    return None


def parse_amend_date(raw: Any) -> _dt.date:
    """Any calendar date; one outside the contract is kept and counted nowhere."""
    return parse_date(raw)


def check_amend_date(raw: Any) -> str | None:
    return _check(parse_amend_date, raw)


def check_notes(raw: Any) -> str | None:
    return None if isinstance(raw, str) else "must be a string"


def check_contract_notes(raw: Any) -> str | None:
    """A contract's free-text notes: a string of at most :data:`CONTRACT_NOTES_MAX` characters."""
    if not isinstance(raw, str):
        return "must be a string"
    if len(raw) > CONTRACT_NOTES_MAX:
        return f"must be at most {CONTRACT_NOTES_MAX:,} characters (got {len(raw):,})"
    return None


# --- portal ----------------------------------------------------------------------


def _parse_str_list(raw: Any, what: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    items = _as_str_list(raw)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            raise _fail(f"{what} must not be blank")
        if pattern is not None and not pattern.fullmatch(item):
            raise _fail(f"{item!r} is not a valid {what}")
        out.append(item)
    return tuple(out)


def parse_portal_projects(raw: Any) -> tuple[str, ...]:
    """Service-desk project keys (``ABC``)."""
    return _parse_str_list(raw, "project key", _PROJECT_KEY)


def check_portal_projects(raw: Any) -> str | None:
    return _check(parse_portal_projects, raw)


def parse_portal_users(raw: Any) -> tuple[str, ...]:
    """Atlassian account ids."""
    return _parse_str_list(raw, "account id")


def check_portal_users(raw: Any) -> str | None:
    return _check(parse_portal_users, raw)


def parse_portal_organizations(raw: Any) -> tuple[str, ...]:
    """JSM organization names or ids."""
    return _parse_str_list(raw, "organization")


def check_portal_organizations(raw: Any) -> str | None:
    return _check(parse_portal_organizations, raw)


# --- a whole, already typed contract -------------------------------------------------


def _typed_units_problem(ctype: ClauseType, units: Any, *, allow_negative: bool) -> str | None:
    if isinstance(units, bool) or not isinstance(units, int):
        return "must be a whole number of model units (int)"
    if not allow_negative and units < 0:
        return "must be >= 0"
    if allow_negative and units == 0:
        return "must not be 0"
    bound = MAX_NUMBER * (SECONDS_PER_HOUR if ctype is ClauseType.SERVICE_HOURS else 1)
    if abs(units) > bound:
        return "is too large"
    if ctype is ClauseType.SERVICE_HOURS and units % SECONDS_PER_HUNDREDTH:
        return "must have at most 2 decimals (a multiple of 36 seconds)"
    return None


def _validate_clause(clause: Clause, p: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def add(field: str, msg: str | None) -> None:
        if msg:
            out.append((f"{p}.{field}", msg))

    if not isinstance(clause.name, str) or clause.name != clause.name.strip():
        add("name", check_clause_name(clause.name) or "must not start or end with spaces")
    else:
        add("name", check_clause_name(clause.name))
    if not isinstance(clause.type, ClauseType):
        add("type", check_clause_type(clause.type) or "must be a ClauseType")
        return out
    add("jql", check_jql(clause.jql))
    ctype = clause.type
    if ctype.has_quota:
        if clause.limit is not None:
            add("limit", _typed_units_problem(ctype, clause.limit, allow_negative=False))
        if clause.sla:
            add("sla", check_quota_field_allowed(ctype, "sla"))
        if clause.target is not None:
            add("target", check_quota_field_allowed(ctype, "target"))
        for j, amend in enumerate(clause.amends):
            ap = f"amends[{j}]"
            if not isinstance(amend.kind, AmendKind):
                add(f"{ap}.kind", check_amend_kind(amend.kind) or "must be an AmendKind")
            else:
                add(f"{ap}.kind", check_amend_allowed(ctype, clause.limit is not None, amend.kind))
            add(f"{ap}.value", _typed_units_problem(ctype, amend.value, allow_negative=True))
            add(f"{ap}.date", None if type(amend.date) is _dt.date else "must be a date")
            add(f"{ap}.notes", check_notes(amend.notes))
    else:
        if clause.limit is not None:
            add("limit", check_quota_field_allowed(ctype, "limit"))
        if clause.amends:
            add("amends", check_quota_field_allowed(ctype, "amends"))
        add("sla", check_sla(clause.sla) if isinstance(clause.sla, tuple) else "must be a tuple of SLA names")
        target = clause.target  # None means the default, 100
        if target is not None and not isinstance(target, Decimal):
            add("target", "must be a Decimal")
        else:
            add("target", check_target(target))
    return out


def validate_contract(contract: Contract, path: str = "") -> list[tuple[str, str]]:
    """Every problem of an already typed contract as ``(path, message)``.

    Paths are relative (``"end"``, ``"clauses[1].amends[0].kind"``) unless
    ``path`` gives a prefix (``"contracts[0]"`` -> ``"contracts[0].end"``).
    Uniqueness among *several* contracts is the caller's business
    (:func:`check_unique_name`, :func:`duplicate_name_indexes`).
    """
    pre = f"{path}." if path else ""
    out: list[tuple[str, str]] = []

    def add(field: str, msg: str | None) -> None:
        if msg:
            out.append((f"{pre}{field}", msg))

    c = contract
    if isinstance(c.name, str) and c.name != c.name.strip() and c.name.strip():
        add("name", "must not start or end with spaces")
    else:
        add("name", check_contract_name(c.name))
    dates_ok = True
    for field in ("start", "end"):
        value = getattr(c, field)
        if type(value) is not _dt.date:
            add(field, "must be a date")
            dates_ok = False
    if dates_ok:
        add("end", check_date_order(c.start, c.end))
    add("time_zone", check_time_zone(c.time_zone))
    if not isinstance(c.period_type, PeriodType):
        add("period_type", check_period_type(c.period_type) or "must be a PeriodType")
    settings = {f"{pre}{f}" for f in ("start", "end", "time_zone", "period_type")}
    if not any(p in settings for p, _ in out):  # dates, zone and period type are valid: can periods be computed?
        found = check_periods(c.start, c.end, c.period_type, c.time_zone)
        if found is not None:
            add(*found)
    for field in ("carry_over", "borrowing"):
        if not isinstance(getattr(c, field), bool):
            add(field, "must be true or false")
    for i, clause in enumerate(c.clauses):
        out.extend(_validate_clause(clause, f"{pre}clauses[{i}]"))
    for i, msg in duplicate_name_indexes([str(cl.name) for cl in c.clauses]):
        add(f"clauses[{i}].name", msg)
    portal = c.portal
    if not isinstance(portal.help_center, bool):
        add("portal.help_center", "must be true or false")
    add("portal.portal_projects", check_portal_projects(list(portal.portal_projects)))
    add("portal.users", check_portal_users(list(portal.users)))
    add("portal.organizations", check_portal_organizations(list(portal.organizations)))
    add("notes", check_contract_notes(c.notes))
    return out
