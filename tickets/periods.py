"""Split a contract's start..end into periods (domain.md, "Periods").

Dates are local dates in the contract's time zone.  A period covers its local
days ``start..end`` (inclusive) and, in instants, the half-open range
``[start_utc, end_utc)``: from the first instant of its first local day to the
first instant of the local day after its last day.  Consecutive periods
therefore share a boundary (``prev.end_utc == next.start_utc``), DST days are
23 or 25 hours long (23.5 / 24.5 on Lord Howe Island) and no instant falls
between two periods.

Period types (period ``k`` numbered from 0):

- ``fixed``: one period, start..end.
- ``monthly_calendar``: start..last day of start's month, whole calendar
  months, then the 1st of end's month..end.
- ``monthly_exact_day``: period ``k`` starts at ``start + k months``, computed
  from the contract start each time (never cumulatively) with the day clamped
  to the month's last day (Jan 31 -> Feb 29/28, Mar 31, Apr 30, ...).
- ``annual_calendar``: start..Dec 31, whole calendar years, Jan 1..end.
- ``annual_exact_day``: period ``k`` starts at ``start + k years`` (Feb 29
  clamps to Feb 28 in common years).

Every period but the last ends the day before the next one starts; the last
ends at ``end``.

**First instant of a local day.**  Normally local midnight.  When midnight
does not exist (a DST gap at 00:00, e.g. America/Havana 2024-03-10 jumps from
00:00 to 01:00), it is the first instant at or after local midnight, i.e. the
end of the gap (01:00 local).  When midnight happens twice (a fall-back at
01:00 -> 00:00), it is the earlier occurrence.  Gaps are found by searching
the UTC instants between the two candidate offsets, so gaps of any length
work (30 minutes on Lord Howe, a whole day in Pacific/Apia).

**Days that do not exist at all.**  Pacific/Apia skipped 2011-12-30 (from
2011-12-29 23:59:59 -10 straight to 2011-12-31 00:00 +14); so did
Pacific/Kiritimati and Pacific/Kanton on 1994-12-31 and Pacific/Kwajalein on
1993-08-21.  The first instant of such a day is the first instant of the next
existing day.  Periods stay as the date rules define them (same count, same
date ranges, so amend dates and period indexes never depend on the zone), and
a period made *only* of non-existent days is kept as an **empty period** with
``start_utc == end_utc``: it contains no instant (``contains`` is always
false, :func:`period_index_at` never returns it) but still contains its dates.
Hence instants are always contiguous and non-decreasing, and strictly
increasing for every period that has at least one existing local day.  This
can only happen to a period of one or two days (``fixed`` 2011-12-30..
2011-12-30 in Apia, or the last exact-day period of a contract ending on such
a day).
"""

from __future__ import annotations

import bisect
import calendar
import datetime as _dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tickets.model import Contract, PeriodType

UTC = _dt.timezone.utc
_ONE_DAY = _dt.timedelta(days=1)

__all__ = [
    "Period",
    "contract_periods",
    "current_period_index",
    "local_day_start_utc",
    "period_index_at",
    "period_index_for_date",
    "split_periods",
]


@dataclass(frozen=True)
class Period:
    """One period: local days ``start..end``; instants ``[start_utc, end_utc)``."""

    index: int
    start: _dt.date
    end: _dt.date
    start_utc: _dt.datetime
    end_utc: _dt.datetime

    def contains(self, instant: _dt.datetime) -> bool:
        """``start_utc <= instant < end_utc``; ``instant`` must be aware."""
        _require_aware(instant)
        return self.start_utc <= instant < self.end_utc

    def contains_date(self, day: _dt.date) -> bool:
        """``start <= day <= end`` (a local date of the contract's zone)."""
        return self.start <= _as_date(day) <= self.end


# --- time zones ---------------------------------------------------------------


@lru_cache(maxsize=256)
def _zone_by_name(name: str) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"unknown time zone: {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone: {name!r}") from exc


def _zone(time_zone: str | zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    if isinstance(time_zone, zoneinfo.ZoneInfo):
        return time_zone
    if isinstance(time_zone, str):
        return _zone_by_name(time_zone)
    raise ValueError(f"unknown time zone: {time_zone!r} (expected an IANA name such as 'Europe/Istanbul')")


def _require_aware(instant: _dt.datetime) -> None:
    if not isinstance(instant, _dt.datetime) or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be a timezone-aware datetime, got {instant!r}")


def _as_date(day: _dt.date) -> _dt.date:
    # A datetime is a date subclass; comparing one with a date raises, so reject it clearly.
    if isinstance(day, _dt.datetime) or not isinstance(day, _dt.date):
        raise ValueError(f"expected a date, got {day!r}")
    return day


def local_day_start_utc(day: _dt.date, time_zone: str | zoneinfo.ZoneInfo) -> _dt.datetime:
    """The first existing instant of local ``day`` in ``time_zone``, in UTC.

    Local midnight when it exists (the earlier one if it happens twice);
    otherwise the first instant at or after local midnight, i.e. the end of
    the DST gap.  For a day that does not exist at all (Pacific/Apia
    2011-12-30) that is the first instant of the next existing day.
    """
    day = _as_date(day)
    zone = _zone(time_zone)
    try:
        return _day_start(day, zone)
    except OverflowError as exc:
        raise ValueError(f"date {day} is out of the supported range") from exc


@lru_cache(maxsize=8192)
def _day_start(day: _dt.date, zone: zoneinfo.ZoneInfo) -> _dt.datetime:
    naive = _dt.datetime(day.year, day.month, day.day)
    # fold=0: the offset in force before a transition.  For an existing or
    # ambiguous midnight this is (the earlier) local midnight itself.
    late = naive.replace(tzinfo=zone).astimezone(UTC)
    if late.astimezone(zone).replace(tzinfo=None) == naive:
        return late
    # Midnight falls in a gap.  fold=1 uses the offset after the transition,
    # which gives an instant before the transition; the transition instant T
    # (the first instant whose local time is >= midnight) lies in (early, late].
    early = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early >= late:  # pragma: no cover - not a forward gap; cannot happen with tzdata
        early = late - _dt.timedelta(days=2)
    # TZif transitions are whole seconds: binary search on seconds.
    lo = int(early.timestamp())  # local(lo) < midnight
    hi = int(late.timestamp())  # local(hi) >= midnight
    epoch = _dt.datetime(1970, 1, 1, tzinfo=UTC)

    def at(seconds: int) -> _dt.datetime:
        return epoch + _dt.timedelta(seconds=seconds)

    def reached(seconds: int) -> bool:
        return at(seconds).astimezone(zone).replace(tzinfo=None) >= naive

    if reached(lo) or not reached(hi):  # pragma: no cover - defensive; odd zone data
        seconds = lo
        while not reached(seconds):
            seconds += 60
        hi = seconds
        lo = seconds - 60
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return at(hi)


# --- period start dates ---------------------------------------------------------


def _add_months(day: _dt.date, months: int) -> _dt.date:
    """``day + months`` with the day clamped to the target month's last day."""
    year, month0 = divmod(day.year * 12 + (day.month - 1) + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return _dt.date(year, month0 + 1, min(day.day, last))


def _add_years(day: _dt.date, years: int) -> _dt.date:
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return _dt.date(year, 2, 28)
    return day.replace(year=year)


def _start_dates(start: _dt.date, end: _dt.date, period_type: PeriodType) -> list[_dt.date]:
    if period_type is PeriodType.FIXED:
        return [start]
    if period_type is PeriodType.MONTHLY_CALENDAR:
        first = start.year * 12 + start.month - 1
        last = end.year * 12 + end.month - 1
        return [start] + [_dt.date(m // 12, m % 12 + 1, 1) for m in range(first + 1, last + 1)]
    if period_type is PeriodType.ANNUAL_CALENDAR:
        return [start] + [_dt.date(y, 1, 1) for y in range(start.year + 1, end.year + 1)]
    step = _add_months if period_type is PeriodType.MONTHLY_EXACT_DAY else _add_years
    starts = [start]
    k = 1
    while True:
        try:
            nxt = step(start, k)
        except ValueError:  # beyond year 9999
            break
        if nxt > end:
            break
        starts.append(nxt)
        k += 1
    return starts


def _period_type(value: PeriodType | str) -> PeriodType:
    if isinstance(value, PeriodType):
        return value
    try:
        return PeriodType(value)
    except ValueError:
        pass
    choices = ", ".join(t.value for t in PeriodType)
    raise ValueError(f"unknown period type: {value!r} (expected one of {choices})")


@lru_cache(maxsize=512)
def _split(start: _dt.date, end: _dt.date, period_type: PeriodType, zone: zoneinfo.ZoneInfo) -> tuple[Period, ...]:
    starts = _start_dates(start, end, period_type)
    try:
        bounds = [_day_start(d, zone) for d in starts]
        bounds.append(_day_start(end + _ONE_DAY, zone))
    except OverflowError as exc:
        raise ValueError(f"contract dates {start}..{end} are out of the supported range") from exc
    ends = [d - _ONE_DAY for d in starts[1:]] + [end]
    return tuple(
        Period(index=i, start=s, end=e, start_utc=bounds[i], end_utc=bounds[i + 1])
        for i, (s, e) in enumerate(zip(starts, ends))
    )


def split_periods(
    start: _dt.date,
    end: _dt.date,
    period_type: PeriodType | str,
    time_zone: str | zoneinfo.ZoneInfo,
) -> list[Period]:
    """The periods of a contract running ``start..end`` (local dates, inclusive).

    Raises ``ValueError`` for ``end < start``, an unknown period type or an
    unknown time zone.  See the module docstring for the rules and for days
    that do not exist in the zone (empty periods).
    """
    start = _as_date(start)
    end = _as_date(end)
    if end < start:
        raise ValueError(f"contract end {end} is before its start {start}")
    if end == _dt.date.max:
        raise ValueError(f"contract end {end} is out of the supported range")
    return list(_split(start, end, _period_type(period_type), _zone(time_zone)))


def contract_periods(contract: Contract) -> list[Period]:
    """The periods of ``contract`` (its dates, period type and time zone)."""
    return split_periods(contract.start, contract.end, contract.period_type, contract.time_zone)


# --- lookups --------------------------------------------------------------------


def period_index_at(periods: Sequence[Period], instant: _dt.datetime) -> int | None:
    """Index of the period whose ``[start_utc, end_utc)`` contains ``instant``.

    ``None`` before the first period or at/after the last one's ``end_utc``.
    Empty periods (see module docstring) are never returned.  ``periods`` must
    be a list from :func:`split_periods` (sorted, contiguous).
    """
    _require_aware(instant)
    i = bisect.bisect_right(periods, instant, key=_start_utc) - 1
    if i < 0 or instant >= periods[i].end_utc:
        return None
    return periods[i].index


def period_index_for_date(periods: Sequence[Period], day: _dt.date) -> int | None:
    """Index of the period whose local dates contain ``day`` (``None`` outside)."""
    day = _as_date(day)
    i = bisect.bisect_right(periods, day, key=_start_date) - 1
    if i < 0 or day > periods[i].end:
        return None
    return periods[i].index


def current_period_index(periods: Sequence[Period], today: _dt.date) -> int | None:
    """The current period on local date ``today``.

    ``None`` before the contract starts (or with no periods); the last period
    after the contract ends.
    """
    today = _as_date(today)
    if not periods or today < periods[0].start:
        return None
    if today > periods[-1].end:
        return periods[-1].index
    return period_index_for_date(periods, today)


def _start_utc(period: Period) -> _dt.datetime:
    return period.start_utc


def _start_date(period: Period) -> _dt.date:
    return period.start
