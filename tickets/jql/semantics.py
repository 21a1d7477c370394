"""JQL semantics for local evaluation (jql.md §2.4, §2.5, §3): pure functions.

* :func:`push_not` rewrites ``NOT`` with De Morgan's laws down to the leaves,
  flipping leaf operators (``NOT a = x`` -> ``a != x``, ``NOT a > x`` ->
  ``a <= x``...), exactly as Jira does, so ``NOT`` never brings back empty
  fields.
* :data:`SYSTEM_FIELDS` / :func:`system_field` classify system field names
  (case-insensitive, with Jira's aliases).
* :func:`parse_date_literal` reads ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd
  HH:mm"``, ``"yyyy/MM/dd"``, ``"yyyy-MM-dd"`` in the Jira user's time zone
  and relative periods (``"-1d"``, ``"4w 2d"``, ``"-10w, 3minutes"``) from
  ``now``; :func:`epoch_ms` reads unquoted numbers (milliseconds after epoch).
* :func:`date_function` evaluates ``now()``, ``startOfDay/Week/Month/Year``
  and ``endOf*`` with increments (``"-1"``, ``"+2w"``, ``"1M"``) in a zone.

Every instant returned is a **naive UTC** ``datetime`` (the cache's
convention).  Nothing here does I/O; callers pass ``now`` (aware or naive
UTC) and a zone name.  :class:`NeedsJira` is raised for anything that cannot
be evaluated locally, with a reason naming the construct.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickets.jql.ast import And, Clause, Not, Or, Terminal

UTC = dt.timezone.utc


class NeedsJira(Exception):
    """The clause cannot be evaluated from the cache; ``reason`` says which construct and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------- NOT

NEGATED_OPERATOR = {
    "=": "!=", "!=": "=",
    "<": ">=", ">=": "<", ">": "<=", "<=": ">",
    "IN": "NOT IN", "NOT IN": "IN",
    "IS": "IS NOT", "IS NOT": "IS",
    "~": "!~", "!~": "~",
    "WAS": "WAS NOT", "WAS NOT": "WAS",
    "WAS IN": "WAS NOT IN", "WAS NOT IN": "WAS IN",
}


def push_not(clause: Clause, negate: bool = False) -> Clause:
    """``clause`` without ``NOT`` nodes: De Morgan down to the leaves, leaf operators flipped.

    ``CHANGED`` has no opposite operator: ``NOT x CHANGED`` stays a ``Not``
    around the terminal (it needs Jira anyway).
    """
    if isinstance(clause, Not):
        return push_not(clause.clause, not negate)
    if isinstance(clause, (And, Or)):
        parts = tuple(push_not(c, negate) for c in clause.clauses)
        kind = type(clause)
        if negate:
            kind = Or if kind is And else And
        flat: list[Clause] = []
        for p in parts:  # keep the parser's "no child of its own type" shape
            flat.extend(p.clauses if isinstance(p, kind) else (p,))
        return kind(tuple(flat), pos=clause.pos)
    assert isinstance(clause, Terminal)
    if not negate:
        return clause
    flipped = NEGATED_OPERATOR.get(clause.op)
    if flipped is None:
        return Not(clause, pos=clause.pos)
    return Terminal(clause.field, flipped, clause.operand, clause.predicates, pos=clause.pos)


# ---------------------------------------------------------------------------- fields

#: lower-case JQL name -> canonical system field.
SYSTEM_FIELDS: dict[str, str] = {
    "project": "project",
    "key": "key", "issuekey": "key", "issue": "key",
    "id": "id",
    "issuetype": "issuetype", "type": "issuetype",
    "status": "status",
    "statuscategory": "statusCategory",
    "priority": "priority",
    "resolution": "resolution",
    "resolved": "resolved", "resolutiondate": "resolved",
    "created": "created", "createddate": "created",
    "updated": "updated", "updateddate": "updated",
    "due": "due", "duedate": "due",
    "summary": "summary",
    "labels": "labels", "label": "labels",
    "component": "component", "components": "component",
    "assignee": "assignee", "reporter": "reporter", "creator": "creator",
    "parent": "parent",
    "request type": "requestType", "customer request type": "requestType", "requesttype": "requestType",
    "organizations": "organizations", "organization": "organizations",
}

#: system fields that exist in Jira but have no local column (always "needs Jira").
REMOTE_SYSTEM_FIELDS = frozenset({
    "description", "environment", "comment", "text", "textfields", "fixversion", "affectedversion",
    "sprint", "epic link", "watcher", "watchers", "voter", "votes", "filter", "savedfilter", "level",
    "attachments", "lastviewed", "originalestimate", "remainingestimate", "timespent", "timeoriginalestimate",
    "timeestimate", "workratio", "subtasks", "issuelink", "issuelinktype", "rank", "approvals", "approver",
    "request channel type", "satisfaction", "satisfaction date", "team", "category",
})

DATETIME_FIELDS = frozenset({"created", "updated", "resolved"})
MULTI_VALUED_FIELDS = frozenset({"labels", "component", "organizations"})


def system_field(name: str) -> str | None:
    """The canonical system field for a JQL field name (case-insensitive), or None."""
    return SYSTEM_FIELDS.get(" ".join(name.split()).casefold())


# ---------------------------------------------------------------------------- functions

DATE_FUNCTIONS = frozenset({
    "now", "startofday", "startofweek", "startofmonth", "startofyear",
    "endofday", "endofweek", "endofmonth", "endofyear",
})
#: functions that need no server data when the account id / issue types are cached.
LOCAL_FUNCTIONS = DATE_FUNCTIONS | {"currentuser", "standardissuetypes", "subtaskissuetypes"}


def function_kind(name: str) -> str:
    """``"date"``, ``"user"``, ``"issuetypes"`` or ``"remote"`` (needs Jira) for a function name."""
    n = name.casefold()
    if n in DATE_FUNCTIONS:
        return "date"
    if n == "currentuser":
        return "user"
    if n in ("standardissuetypes", "subtaskissuetypes"):
        return "issuetypes"
    return "remote"


# ---------------------------------------------------------------------------- zones and instants


def zone_of(name: str | None) -> dt.tzinfo:
    """The tzinfo for an IANA name; UTC for None/empty; ValueError for an unknown name."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def as_utc(now: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive input is taken as UTC)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def local_to_utc(local: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A naive wall-clock time in ``zone`` -> naive UTC (the earlier reading of an ambiguous time)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC).replace(tzinfo=None)


def utc_to_local(instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """Naive or aware UTC -> naive wall-clock time in ``zone``."""
    return as_utc(instant).astimezone(zone).replace(tzinfo=None)


def epoch_ms(ms: int) -> dt.datetime:
    """An unquoted number on a date field: milliseconds after the epoch -> naive UTC."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


def add_months(local: dt.datetime, months: int) -> dt.datetime:
    """Calendar months added to a wall-clock time (day clamped to the month's length)."""
    total = local.year * 12 + (local.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise NeedsJira("a date outside the years 1-9999")
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def _shift(local: dt.datetime, amount: int, unit: str) -> dt.datetime:
    """Wall-clock arithmetic: y/M calendar, w/d calendar days, h/m as durations of wall time."""
    try:
        if unit == "y":
            return add_months(local, 12 * amount)
        if unit == "M":
            return add_months(local, amount)
        if unit == "w":
            return local + dt.timedelta(weeks=amount)
        if unit == "d":
            return local + dt.timedelta(days=amount)
        if unit == "h":
            return local + dt.timedelta(hours=amount)
        return local + dt.timedelta(minutes=amount)
    except OverflowError:
        raise NeedsJira("a date outside the years 1-9999") from None


# ---------------------------------------------------------------------------- date literals

_ABSOLUTE = re.compile(r"^\s*(\d{4})([/-])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?\s*$")
_UNIT_WORDS = {
    "w": "w", "week": "w", "weeks": "w",
    "d": "d", "day": "d", "days": "d",
    "h": "h", "hour": "h", "hours": "h",
    "m": "m", "minute": "m", "minutes": "m", "": "m",
}
_PERIOD_PART = re.compile(r"\s*([+-]?)(\d+)\s*([A-Za-z]*)\s*,?")


class BadDate(ValueError):
    """A date literal Jira would reject (the query is invalid)."""


def parse_period(text: str) -> list[tuple[int, str]] | None:
    """``"-4w 2d"`` -> ``[(-4, "w"), (-2, "d")]``; None when ``text`` is not a period.

    A leading sign applies to every part that has no sign of its own; the
    default unit is minutes (jql.md §2.4).
    """
    s = text.strip()
    if not s or not re.match(r"^[+-]?\d", s):
        return None
    parts: list[tuple[int, str]] = []
    pos, sign = 0, ""
    while pos < len(s):
        m = _PERIOD_PART.match(s, pos)
        if not m or m.end() == pos:
            return None
        own_sign, digits, unit = m.groups()
        unit_key = _UNIT_WORDS.get(unit.lower() if unit not in ("M",) else "M")
        if unit_key is None or (not unit and m.end() < len(s)):
            return None  # an unknown unit, or a bare number that is not the last part ("2023-01-01")
        if not parts:
            sign = own_sign
        eff = own_sign or sign
        parts.append((-int(digits) if eff == "-" else int(digits), unit_key))
        pos = m.end()
    return parts


def parse_date_literal(text: str, zone: dt.tzinfo, now: dt.datetime, *, date_only: bool = False) -> dt.datetime:
    """A JQL date string -> naive UTC instant (minute precision for absolute dates).

    Absolute dates are wall-clock times in ``zone`` (midnight when no time is
    given); periods are relative to ``now`` (rolling, not midnight-aligned:
    unverified for day units, see jql.md §6).  ``date_only`` (``due``)
    refuses a time of day and hour/minute periods, as Jira does.
    Raises :class:`BadDate` for a string Jira would reject.
    """
    m = _ABSOLUTE.match(text)
    if m:
        year, _, month, day, hour, minute = m.groups()
        if date_only and hour is not None:
            raise BadDate(f"date value {text!r} for the due date may not have a time (use 'yyyy-MM-dd')")
        try:
            local = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        except ValueError:
            raise BadDate(f"date value {text!r} is not a valid date") from None
        return local_to_utc(local, zone)
    period = parse_period(text)
    if period is None:
        raise BadDate(f"date value {text!r} is invalid; valid formats include 'yyyy/MM/dd HH:mm', "
                      "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'")
    if date_only and any(u in ("h", "m") for _, u in period):
        raise BadDate(f"date value {text!r} for the due date may only use w/d periods")
    instant = as_utc(now).replace(tzinfo=None)
    total = dt.timedelta()
    for amount, unit in period:
        total += {"w": dt.timedelta(weeks=amount), "d": dt.timedelta(days=amount),
                  "h": dt.timedelta(hours=amount), "m": dt.timedelta(minutes=amount)}[unit]
    try:
        return instant + total
    except OverflowError:
        raise BadDate(f"date value {text!r} is out of range") from None


# ---------------------------------------------------------------------------- date functions

_INCREMENT = re.compile(r"^\s*([+-]?)(\d+)([yMwdhm]?)\s*$")
_NATURAL_UNIT = {"day": "d", "week": "w", "month": "M", "year": "y"}


def parse_increment(text: str, natural_unit: str) -> tuple[int, str]:
    """``"-1"`` / ``"+2w"`` / ``"1M"`` -> (signed amount, unit); the unit defaults to the function's period."""
    m = _INCREMENT.match(text)
    if not m:
        raise BadDate(f"{text!r} is not a valid increment; use (+/-)nn(y|M|w|d|h|m), e.g. \"-1\" or \"+2w\"")
    sign, digits, unit = m.groups()
    amount = int(digits)
    return (-amount if sign == "-" else amount), (unit or natural_unit)


def _start_of(local: dt.datetime, period: str, week_start: int) -> dt.datetime:
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=(day.weekday() - week_start) % 7)
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def date_function(name: str, args: tuple[str, ...], now: dt.datetime, zone: dt.tzinfo, *,
                  week_start: int = 6) -> dt.datetime:
    """``now()``, ``startOf*``/``endOf*`` (optional increment) in ``zone`` -> naive UTC.

    ``week_start``: 0 Monday .. 6 Sunday (Jira's default locale en_US starts
    weeks on Sunday; unverified, see jql.md §6).  ``endOf*`` is the last
    millisecond of the period.  With an increment in the function's own unit
    the period itself moves (``endOfMonth(-1)`` = end of last month); with
    another unit the boundary moves by that amount of wall-clock time.
    """
    n = name.casefold()
    if n == "now":
        if args:
            raise BadDate("now() takes no argument")
        return as_utc(now).replace(tzinfo=None)
    kind, _, period = n.partition("of")
    if kind not in ("start", "end") or period not in _NATURAL_UNIT:
        raise NeedsJira(f"function {name}() is not a date function")
    if len(args) > 1:
        raise BadDate(f"{name}() takes at most one increment")
    natural = _NATURAL_UNIT[period]
    amount, unit = parse_increment(args[0], natural) if args else (0, natural)
    local_now = utc_to_local(now, zone)
    start = _start_of(local_now, period, week_start)
    if kind == "start":
        return local_to_utc(_shift(start, amount, unit), zone)
    if unit == natural:
        begin = _shift(start, amount, unit)
        return local_to_utc(_shift(begin, 1, natural), zone) - dt.timedelta(milliseconds=1)
    end_local = _shift(start, 1, natural)
    return local_to_utc(_shift(end_local, amount, unit), zone) - dt.timedelta(milliseconds=1)


def local_date(instant_utc: dt.datetime, zone: dt.tzinfo) -> tuple[dt.date, bool]:
    """The date of an instant in ``zone`` and whether it falls exactly on that date's midnight."""
    local = utc_to_local(instant_utc, zone)
    return local.date(), local.time() == dt.time()
