"""Period splitting (domain.md, "Periods").

Expected values come from the spec / seed example, from hand-written calendar
facts, or from published time-zone rules (tzdata), never from the code under
test.  The property tests recompute period starts with plain calendar
arithmetic written independently of :mod:`tickets.periods`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets.model import Contract, PeriodType
from tickets.periods import (
    Period,
    contract_periods,
    current_period_index,
    local_day_start_utc,
    period_index_at,
    period_index_for_date,
    split_periods,
)

UTC = dt.timezone.utc
D = dt.date
H = dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def bounds(periods: list[Period]) -> list[tuple[dt.date, dt.date]]:
    return [(p.start, p.end) for p in periods]


def wall(instant: dt.datetime, zone: str) -> dt.datetime:
    """Naive local wall-clock time of an instant."""
    return instant.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


# --- the seed's example -------------------------------------------------------

SEED_START, SEED_END = D(2023, 1, 15), D(2025, 1, 14)


@pytest.mark.parametrize(
    ("ptype", "count", "first", "second", "last"),
    [
        ("fixed", 1, (D(2023, 1, 15), D(2025, 1, 14)), None, (D(2023, 1, 15), D(2025, 1, 14))),
        (
            "monthly_calendar",
            25,
            (D(2023, 1, 15), D(2023, 1, 31)),
            (D(2023, 2, 1), D(2023, 2, 28)),
            (D(2025, 1, 1), D(2025, 1, 14)),
        ),
        (
            "monthly_exact_day",
            24,
            (D(2023, 1, 15), D(2023, 2, 14)),
            (D(2023, 2, 15), D(2023, 3, 14)),
            (D(2024, 12, 15), D(2025, 1, 14)),
        ),
        (
            "annual_calendar",
            3,
            (D(2023, 1, 15), D(2023, 12, 31)),
            (D(2024, 1, 1), D(2024, 12, 31)),
            (D(2025, 1, 1), D(2025, 1, 14)),
        ),
        (
            "annual_exact_day",
            2,
            (D(2023, 1, 15), D(2024, 1, 14)),
            (D(2024, 1, 15), D(2025, 1, 14)),
            (D(2024, 1, 15), D(2025, 1, 14)),
        ),
    ],
)
def test_seed_example(ptype, count, first, second, last) -> None:
    periods = split_periods(SEED_START, SEED_END, ptype, "Europe/Istanbul")
    assert len(periods) == count
    assert [p.index for p in periods] == list(range(count))
    assert (periods[0].start, periods[0].end) == first
    if second is not None:
        assert (periods[1].start, periods[1].end) == second
    assert (periods[-1].start, periods[-1].end) == last


def test_seed_example_monthly_calendar_middle_periods_are_whole_months() -> None:
    periods = split_periods(SEED_START, SEED_END, PeriodType.MONTHLY_CALENDAR, "UTC")
    # "The following 23 periods match full calendar months."
    for p in periods[1:-1]:
        assert p.start.day == 1
        assert (p.end + dt.timedelta(days=1)).day == 1
        assert (p.start.year, p.start.month) == (p.end.year, p.end.month)
    assert bounds(periods)[12] == (D(2024, 1, 1), D(2024, 1, 31))
    assert bounds(periods)[13] == (D(2024, 2, 1), D(2024, 2, 29))
    assert bounds(periods)[23] == (D(2024, 12, 1), D(2024, 12, 31))


def test_seed_example_exact_day_runs_15th_to_14th() -> None:
    periods = split_periods(SEED_START, SEED_END, "monthly_exact_day", "UTC")
    assert all(p.start.day == 15 and p.end.day == 14 for p in periods)


def test_seed_example_instants_in_istanbul() -> None:
    # Istanbul is UTC+3 all year since late 2016: local midnight is 21:00 UTC the day before.
    periods = split_periods(SEED_START, SEED_END, "annual_calendar", "Europe/Istanbul")
    assert [p.start_utc for p in periods] == [utc(2023, 1, 14, 21), utc(2023, 12, 31, 21), utc(2024, 12, 31, 21)]
    assert [p.end_utc for p in periods] == [utc(2023, 12, 31, 21), utc(2024, 12, 31, 21), utc(2025, 1, 14, 21)]


# --- exact-day clamping ---------------------------------------------------------


def test_monthly_exact_day_from_jan_31_leap_year_never_drifts() -> None:
    periods = split_periods(D(2024, 1, 31), D(2025, 1, 30), "monthly_exact_day", "UTC")
    starts = [D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30), D(2024, 5, 31), D(2024, 6, 30),
              D(2024, 7, 31), D(2024, 8, 31), D(2024, 9, 30), D(2024, 10, 31), D(2024, 11, 30), D(2024, 12, 31)]
    ends = [D(2024, 2, 28), D(2024, 3, 30), D(2024, 4, 29), D(2024, 5, 30), D(2024, 6, 29), D(2024, 7, 30),
            D(2024, 8, 30), D(2024, 9, 29), D(2024, 10, 30), D(2024, 11, 29), D(2024, 12, 30), D(2025, 1, 30)]
    assert bounds(periods) == list(zip(starts, ends))


def test_monthly_exact_day_from_jan_31_common_year() -> None:
    periods = split_periods(D(2023, 1, 31), D(2023, 6, 30), "monthly_exact_day", "UTC")
    assert bounds(periods) == [
        (D(2023, 1, 31), D(2023, 2, 27)),
        (D(2023, 2, 28), D(2023, 3, 30)),
        (D(2023, 3, 31), D(2023, 4, 29)),
        (D(2023, 4, 30), D(2023, 5, 30)),
        (D(2023, 5, 31), D(2023, 6, 29)),
        (D(2023, 6, 30), D(2023, 6, 30)),  # June 30 is start + 5 months (clamped): a 1-day last period
    ]


def test_monthly_exact_day_from_the_30th_across_february() -> None:
    periods = split_periods(D(2023, 12, 30), D(2024, 4, 29), "monthly_exact_day", "UTC")
    assert [p.start for p in periods] == [D(2023, 12, 30), D(2024, 1, 30), D(2024, 2, 29), D(2024, 3, 30)]
    assert periods[-1].end == D(2024, 4, 29)


def test_annual_exact_day_from_feb_29() -> None:
    periods = split_periods(D(2024, 2, 29), D(2029, 2, 27), "annual_exact_day", "UTC")
    assert bounds(periods) == [
        (D(2024, 2, 29), D(2025, 2, 27)),
        (D(2025, 2, 28), D(2026, 2, 27)),
        (D(2026, 2, 28), D(2027, 2, 27)),
        (D(2027, 2, 28), D(2028, 2, 28)),
        (D(2028, 2, 29), D(2029, 2, 27)),  # start + 4 years exists again: back to Feb 29
    ]


def test_century_years_are_not_leap_years() -> None:
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
    periods = split_periods(D(2096, 2, 29), D(2104, 3, 1), "annual_exact_day", "UTC")
    assert [p.start for p in periods] == [
        D(2096, 2, 29), D(2097, 2, 28), D(2098, 2, 28), D(2099, 2, 28), D(2100, 2, 28),
        D(2101, 2, 28), D(2102, 2, 28), D(2103, 2, 28), D(2104, 2, 29),
    ]
    assert [p.start for p in split_periods(D(2100, 1, 31), D(2100, 3, 31), "monthly_exact_day", "UTC")] == [
        D(2100, 1, 31), D(2100, 2, 28), D(2100, 3, 31),
    ]
    assert [p.start for p in split_periods(D(1996, 2, 29), D(2000, 3, 1), "annual_exact_day", "UTC")][-1] == D(2000, 2, 29)


def test_single_day_contract_every_type() -> None:
    for ptype in PeriodType:
        periods = split_periods(D(2024, 5, 31), D(2024, 5, 31), ptype, "UTC")
        assert bounds(periods) == [(D(2024, 5, 31), D(2024, 5, 31))]
        assert periods[0].start_utc == utc(2024, 5, 31)
        assert periods[0].end_utc == utc(2024, 6, 1)


def test_calendar_types_ending_on_first_of_month_or_year() -> None:
    assert bounds(split_periods(D(2024, 1, 31), D(2024, 2, 1), "monthly_calendar", "UTC")) == [
        (D(2024, 1, 31), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 1)),
    ]
    assert bounds(split_periods(D(2023, 12, 31), D(2024, 1, 1), "annual_calendar", "UTC")) == [
        (D(2023, 12, 31), D(2023, 12, 31)),
        (D(2024, 1, 1), D(2024, 1, 1)),
    ]
    # starting on the 1st: the first period is a whole month too
    assert bounds(split_periods(D(2024, 2, 1), D(2024, 3, 31), "monthly_calendar", "UTC")) == [
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]


# --- errors ---------------------------------------------------------------------


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="before"):
        split_periods(D(2024, 1, 2), D(2024, 1, 1), "fixed", "UTC")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe/"])
def test_unknown_time_zone_is_rejected(zone: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        split_periods(D(2024, 1, 1), D(2024, 2, 1), "fixed", zone)
    with pytest.raises(ValueError, match="time zone"):
        local_day_start_utc(D(2024, 1, 1), zone)


def test_unknown_period_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="period type.*weekly"):
        split_periods(D(2024, 1, 1), D(2024, 2, 1), "weekly", "UTC")


def test_period_type_accepts_enum_and_string() -> None:
    a = split_periods(D(2024, 1, 1), D(2024, 3, 31), PeriodType.MONTHLY_CALENDAR, "UTC")
    b = split_periods(D(2024, 1, 1), D(2024, 3, 31), "monthly_calendar", "UTC")
    assert a == b and len(a) == 3


def test_naive_instant_is_rejected() -> None:
    periods = split_periods(D(2024, 1, 1), D(2024, 1, 31), "fixed", "UTC")
    with pytest.raises(ValueError, match="aware"):
        periods[0].contains(dt.datetime(2024, 1, 5))
    with pytest.raises(ValueError, match="aware"):
        period_index_at(periods, dt.datetime(2024, 1, 5))


# --- DST: one-day fixed periods have the real length of the day ----------------


@pytest.mark.parametrize(
    ("zone", "day", "start_utc", "hours"),
    [
        # US: 02:00 -> 03:00 on 2024-03-10, 02:00 -> 01:00 on 2024-11-03 (EST -5 / EDT -4)
        ("America/New_York", D(2024, 3, 10), utc(2024, 3, 10, 5), 23),
        ("America/New_York", D(2024, 11, 3), utc(2024, 11, 3, 4), 25),
        ("America/New_York", D(2024, 7, 1), utc(2024, 7, 1, 4), 24),
        # Turkey 2015: 03:00 -> 04:00 on Mar 29; fall back delayed to Nov 8 (EET +2 / EEST +3)
        ("Europe/Istanbul", D(2015, 3, 29), utc(2015, 3, 28, 22), 23),
        ("Europe/Istanbul", D(2015, 11, 8), utc(2015, 11, 7, 21), 25),
        # Lord Howe: half-hour DST at 02:00 (+10:30 / +11)
        ("Australia/Lord_Howe", D(2024, 10, 6), utc(2024, 10, 5, 13, 30), 23.5),
        ("Australia/Lord_Howe", D(2024, 4, 7), utc(2024, 4, 6, 13), 24.5),
        # Cuba skips 00:00-01:00 on 2024-03-10 (-5 -> -4): the day starts at 01:00 local
        ("America/Havana", D(2024, 3, 10), utc(2024, 3, 10, 5), 23),
        ("America/Havana", D(2024, 11, 3), utc(2024, 11, 3, 4), 25),
        # Chile skips 00:00-01:00 on 2024-09-08 (-4 -> -3)
        ("America/Santiago", D(2024, 9, 8), utc(2024, 9, 8, 4), 23),
        # Lebanon skips 00:00-01:00 on 2024-03-31 (+2 -> +3)
        ("Asia/Beirut", D(2024, 3, 31), utc(2024, 3, 30, 22), 23),
    ],
)
def test_dst_day_lengths(zone: str, day: dt.date, start_utc: dt.datetime, hours: float) -> None:
    (p,) = split_periods(day, day, "fixed", zone)
    assert p.start_utc == start_utc
    assert p.start_utc.tzinfo is UTC and p.end_utc.tzinfo is UTC
    assert p.end_utc - p.start_utc == dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("zone", "day"),
    [("America/Havana", D(2024, 3, 10)), ("America/Santiago", D(2024, 9, 8)), ("Asia/Beirut", D(2024, 3, 31))],
)
def test_skipped_midnight_starts_at_one_am(zone: str, day: dt.date) -> None:
    z = zoneinfo.ZoneInfo(zone)
    # check the premise with zoneinfo: local midnight does not round-trip
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=z)
    assert midnight.astimezone(UTC).astimezone(z).replace(tzinfo=None) != midnight.replace(tzinfo=None)
    start = local_day_start_utc(day, zone)
    assert wall(start, zone) == dt.datetime.combine(day, dt.time(1))
    assert wall(start - US, zone) < dt.datetime.combine(day, dt.time(0))
    periods = split_periods(day - dt.timedelta(days=3), day + dt.timedelta(days=3), "monthly_calendar", zone)
    for p in periods:
        assert p.start_utc == local_day_start_utc(p.start, zone)


def test_gap_starting_before_midnight_is_searched_not_guessed() -> None:
    # Toronto 1919: clocks went 23:30 (Mar 30, -5) -> 00:30 (Mar 31, -4).  The
    # first instant of Mar 31 is 00:30 local = 04:30 UTC, not 01:00 local
    # (which is what blindly applying the old offset to midnight gives).
    start = local_day_start_utc(D(1919, 3, 31), "America/Toronto")
    assert start == utc(1919, 3, 31, 4, 30)
    assert wall(start, "America/Toronto") == dt.datetime(1919, 3, 31, 0, 30)
    assert wall(start - US, "America/Toronto") < dt.datetime(1919, 3, 31)


def test_ambiguous_midnight_takes_the_first_one() -> None:
    # St. John's 1990-10-28: 00:01 NDT (-2:30) -> 23:01 NST (-3:30), so 00:00-00:01 happens twice.
    start = local_day_start_utc(D(1990, 10, 28), "America/St_Johns")
    assert start == utc(1990, 10, 28, 2, 30)
    (p,) = split_periods(D(1990, 10, 28), D(1990, 10, 28), "fixed", "America/St_Johns")
    assert p.end_utc - p.start_utc == dt.timedelta(hours=25)


def test_accepts_zoneinfo_object() -> None:
    z = zoneinfo.ZoneInfo("America/New_York")
    assert local_day_start_utc(D(2024, 3, 10), z) == utc(2024, 3, 10, 5)
    assert split_periods(D(2024, 3, 1), D(2024, 3, 31), "fixed", z)[0].end_utc == utc(2024, 4, 1, 4)


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        ("America/New_York", D(2023, 1, 15), D(2025, 1, 14)),
        ("Europe/Istanbul", D(2013, 6, 1), D(2017, 5, 31)),  # DST years, then permanent +03
        ("Australia/Lord_Howe", D(2023, 1, 15), D(2025, 1, 14)),
        ("America/Havana", D(2022, 12, 10), D(2025, 3, 9)),
    ],
)
@pytest.mark.parametrize("ptype", list(PeriodType))
def test_dst_spans_boundaries_are_local_midnights_and_contiguous(zone, start, end, ptype) -> None:
    periods = split_periods(start, end, ptype, zone)
    for p in periods:
        local = wall(p.start_utc, zone)
        if local.time() != dt.time(0):  # only allowed where midnight does not exist
            assert zone == "America/Havana" and local.time() == dt.time(1), local
            assert wall(p.start_utc - US, zone) < dt.datetime.combine(p.start, dt.time(0))
        assert local.date() == p.start
        assert wall(p.end_utc, zone).date() == p.end + dt.timedelta(days=1)
    for a, b in zip(periods, periods[1:]):
        assert a.end_utc == b.start_utc
        assert a.start_utc < b.start_utc


def test_monthly_periods_across_new_york_dst_have_uneven_lengths() -> None:
    periods = split_periods(D(2024, 3, 1), D(2024, 11, 30), "monthly_calendar", "America/New_York")
    march, nov = periods[0], periods[-1]
    assert march.end_utc - march.start_utc == dt.timedelta(days=31) - H
    assert nov.end_utc - nov.start_utc == dt.timedelta(days=30) + H
    april = periods[1]
    assert april.end_utc - april.start_utc == dt.timedelta(days=30)


# --- Pacific/Apia skipped 2011-12-30 entirely ------------------------------------

APIA = "Pacific/Apia"
APIA_JUMP = utc(2011, 12, 30, 10)  # 2011-12-29 24:00 -10 == 2011-12-31 00:00 +14


def test_apia_premise() -> None:
    assert wall(APIA_JUMP - US, APIA) == dt.datetime(2011, 12, 29, 23, 59, 59, 999999)
    assert wall(APIA_JUMP, APIA) == dt.datetime(2011, 12, 31)


def test_apia_missing_day_starts_at_the_next_day() -> None:
    assert local_day_start_utc(D(2011, 12, 29), APIA) == utc(2011, 12, 29, 10)
    assert local_day_start_utc(D(2011, 12, 30), APIA) == APIA_JUMP
    assert local_day_start_utc(D(2011, 12, 31), APIA) == APIA_JUMP
    assert local_day_start_utc(D(2012, 1, 1), APIA) == utc(2011, 12, 31, 10)


def _assert_contiguous_increasing(periods: list[Period]) -> None:
    for a, b in zip(periods, periods[1:]):
        assert a.end + dt.timedelta(days=1) == b.start
        assert a.end_utc == b.start_utc
        assert a.start_utc < b.start_utc
    for p in periods:
        assert p.start_utc < p.end_utc


def test_apia_monthly_exact_day_from_nov_30() -> None:
    periods = split_periods(D(2011, 11, 30), D(2012, 3, 29), "monthly_exact_day", APIA)
    assert [p.start for p in periods] == [D(2011, 11, 30), D(2011, 12, 30), D(2012, 1, 30), D(2012, 2, 29)]
    _assert_contiguous_increasing(periods)
    # Nov 30 .. Dec 29 lost no day; Dec 30 .. Jan 29 is one day short (Dec 30 never happened)
    assert periods[0].end_utc - periods[0].start_utc == dt.timedelta(days=30)
    assert periods[1].start_utc == APIA_JUMP
    assert periods[1].end_utc - periods[1].start_utc == dt.timedelta(days=30)
    assert period_index_at(periods, APIA_JUMP - US) == 0
    assert period_index_at(periods, APIA_JUMP) == 1
    assert period_index_for_date(periods, D(2011, 12, 30)) == 1


def test_apia_monthly_exact_day_from_the_missing_day() -> None:
    periods = split_periods(D(2011, 12, 30), D(2012, 12, 29), "monthly_exact_day", APIA)
    assert len(periods) == 12
    assert periods[0].start_utc == APIA_JUMP
    assert [p.start for p in periods][:3] == [D(2011, 12, 30), D(2012, 1, 30), D(2012, 2, 29)]
    _assert_contiguous_increasing(periods)


def test_apia_fixed_periods_around_the_missing_day() -> None:
    (p,) = split_periods(D(2011, 12, 29), D(2011, 12, 31), "fixed", APIA)
    assert (p.start_utc, p.end_utc) == (utc(2011, 12, 29, 10), utc(2011, 12, 31, 10))
    assert p.end_utc - p.start_utc == dt.timedelta(days=2)  # three dates, two real days
    (q,) = split_periods(D(2011, 12, 30), D(2011, 12, 31), "fixed", APIA)
    assert (q.start_utc, q.end_utc) == (APIA_JUMP, utc(2011, 12, 31, 10))
    periods = split_periods(D(2011, 12, 1), D(2012, 1, 31), "monthly_calendar", APIA)
    _assert_contiguous_increasing(periods)
    assert periods[0].end_utc - periods[0].start_utc == dt.timedelta(days=30)  # December had 30 days


def test_apia_period_made_only_of_the_missing_day_is_empty() -> None:
    # Documented choice: periods follow the date rules; one that only holds
    # non-existent days has no instants (start_utc == end_utc).
    (p,) = split_periods(D(2011, 12, 30), D(2011, 12, 30), "fixed", APIA)
    assert p.start_utc == p.end_utc == APIA_JUMP
    assert not p.contains(APIA_JUMP)
    assert p.contains_date(D(2011, 12, 30))
    periods = split_periods(D(2011, 11, 30), D(2011, 12, 30), "monthly_exact_day", APIA)
    assert bounds(periods) == [(D(2011, 11, 30), D(2011, 12, 29)), (D(2011, 12, 30), D(2011, 12, 30))]
    assert periods[0].end_utc == periods[1].start_utc == periods[1].end_utc
    assert period_index_at(periods, APIA_JUMP - US) == 0
    assert period_index_at(periods, APIA_JUMP) is None  # after the contract
    assert period_index_for_date(periods, D(2011, 12, 30)) == 1
    fixed_days = [
        split_periods(D(2011, 12, 29) + dt.timedelta(days=i), D(2011, 12, 29) + dt.timedelta(days=i), "fixed", APIA)[0]
        for i in range(3)
    ]
    assert [p.end_utc - p.start_utc for p in fixed_days] == [dt.timedelta(days=1), dt.timedelta(0), dt.timedelta(days=1)]


def test_index_at_skips_an_empty_middle_period() -> None:
    # Build Dec 29 | Dec 30 | Dec 31 as three one-day periods (same zone, so same boundaries as split_periods).
    days = [D(2011, 12, 29), D(2011, 12, 30), D(2011, 12, 31)]
    edges = [local_day_start_utc(d, APIA) for d in days] + [local_day_start_utc(D(2012, 1, 1), APIA)]
    periods = [Period(i, d, d, edges[i], edges[i + 1]) for i, d in enumerate(days)]
    assert period_index_at(periods, APIA_JUMP - US) == 0
    assert period_index_at(periods, APIA_JUMP) == 2
    assert period_index_at(periods, utc(2011, 12, 31, 10) - US) == 2


# --- lookups --------------------------------------------------------------------


def test_period_index_at_boundaries() -> None:
    periods = split_periods(D(2024, 1, 1), D(2024, 3, 31), "monthly_calendar", "America/New_York")
    jan_start = utc(2024, 1, 1, 5)
    feb_start = utc(2024, 2, 1, 5)
    apr_start = utc(2024, 4, 1, 4)  # EDT
    assert period_index_at(periods, jan_start - US) is None
    assert period_index_at(periods, jan_start) == 0
    assert period_index_at(periods, feb_start - US) == 0
    assert period_index_at(periods, feb_start) == 1
    assert period_index_at(periods, apr_start - US) == 2
    assert period_index_at(periods, apr_start) is None
    # other aware time zones are fine
    ist = zoneinfo.ZoneInfo("Europe/Istanbul")
    assert period_index_at(periods, dt.datetime(2024, 2, 1, 8, 0, tzinfo=ist)) == 1  # 05:00 UTC
    assert period_index_at(periods, dt.datetime(2024, 2, 1, 7, 59, 59, tzinfo=ist)) == 0
    assert periods[1].contains(feb_start) and not periods[0].contains(feb_start)
    assert period_index_at([], jan_start) is None


def test_period_index_for_date_and_contains_date() -> None:
    periods = split_periods(SEED_START, SEED_END, "monthly_exact_day", "UTC")
    assert period_index_for_date(periods, D(2023, 1, 14)) is None
    assert period_index_for_date(periods, D(2023, 1, 15)) == 0
    assert period_index_for_date(periods, D(2023, 2, 14)) == 0
    assert period_index_for_date(periods, D(2023, 2, 15)) == 1
    assert period_index_for_date(periods, D(2025, 1, 14)) == 23
    assert period_index_for_date(periods, D(2025, 1, 15)) is None
    assert periods[1].contains_date(D(2023, 3, 14)) and not periods[1].contains_date(D(2023, 3, 15))
    assert period_index_for_date([], D(2023, 1, 15)) is None


def test_current_period_index() -> None:
    periods = split_periods(SEED_START, SEED_END, "annual_calendar", "UTC")
    assert current_period_index(periods, D(2023, 1, 14)) is None
    assert current_period_index(periods, D(2023, 1, 15)) == 0
    assert current_period_index(periods, D(2023, 12, 31)) == 0
    assert current_period_index(periods, D(2024, 6, 1)) == 1
    assert current_period_index(periods, D(2025, 1, 14)) == 2
    assert current_period_index(periods, D(2025, 1, 15)) == 2
    assert current_period_index(periods, D(2040, 1, 1)) == 2
    assert current_period_index([], D(2024, 1, 1)) is None


def test_contract_periods() -> None:
    contract = Contract(
        name="Acme", start=SEED_START, end=SEED_END, time_zone="Australia/Lord_Howe",
        period_type=PeriodType.MONTHLY_CALENDAR,
    )
    periods = contract_periods(contract)
    assert len(periods) == 25
    assert periods[0].start_utc == utc(2023, 1, 14, 13)  # +11 (DST) in January
    assert periods[-1].end_utc == utc(2025, 1, 14, 13)


def test_split_returns_a_fresh_list() -> None:
    a = split_periods(SEED_START, SEED_END, "monthly_calendar", "UTC")
    a.clear()
    assert len(split_periods(SEED_START, SEED_END, "monthly_calendar", "UTC")) == 25


# --- properties -----------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Istanbul",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Asia/Beirut",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Asia/Tehran",
    "Pacific/Chatham",
    "America/St_Johns",
]
# Local days that never happened in these zones (tzdata), 1990-2060.
MISSING_DAYS = {("Pacific/Apia", D(2011, 12, 30)), ("Pacific/Kiritimati", D(1994, 12, 31))}
# Zones whose fall-back crossed midnight (00:01 -> 23:01 the day before), 1990-2060.
BACKWARD_MIDNIGHT_ZONES = {"America/St_Johns"}

SPECIAL_DAYS = [D(2011, 12, 30), D(1994, 12, 31), D(2024, 2, 29), D(2000, 2, 29), D(2024, 3, 10), D(1990, 10, 28)]


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _month_len(y: int, m: int) -> int:
    return [31, 29 if _leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def _expected_starts(start: dt.date, end: dt.date, ptype: PeriodType) -> list[dt.date]:
    """Period start dates by the spec, counted month by month with a loop."""
    if ptype is PeriodType.FIXED:
        return [start]
    out = [start]
    if ptype in (PeriodType.MONTHLY_CALENDAR, PeriodType.ANNUAL_CALENDAR):
        y, m = start.year, start.month
        while True:
            if ptype is PeriodType.MONTHLY_CALENDAR:
                m += 1
                if m == 13:
                    y, m = y + 1, 1
            else:
                y, m = y + 1, 1
            d = D(y, m, 1)
            if d > end:
                return out
            out.append(d)
    k = 0
    while True:
        k += 1
        if ptype is PeriodType.MONTHLY_EXACT_DAY:
            y, m = start.year, start.month
            for _ in range(k):  # walk k months from the contract start, every time
                m += 1
                if m == 13:
                    y, m = y + 1, 1
        else:
            y, m = start.year + k, start.month
        d = D(y, m, min(start.day, _month_len(y, m)))
        if d > end:
            return out
        out.append(d)


dates_1990_2060 = st.dates(min_value=D(1990, 1, 1), max_value=D(2060, 12, 31))
near_special = st.builds(
    lambda d, off: d + dt.timedelta(days=off), st.sampled_from(SPECIAL_DAYS), st.integers(-70, 3)
)
starts = st.one_of(dates_1990_2060, near_special)
lengths = st.one_of(st.integers(0, 40), st.integers(0, 2200))

PROP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(start=starts, length=lengths, ptype=st.sampled_from(list(PeriodType)), zone=st.sampled_from(ZONES))
def test_property_periods_follow_the_rules(start, length, ptype, zone) -> None:
    end = start + dt.timedelta(days=length)
    periods = split_periods(start, end, ptype, zone)

    # dates: exactly the spec's starts; contiguous; cover start..end
    expected = _expected_starts(start, end, ptype)
    assert [p.start for p in periods] == expected
    assert [p.index for p in periods] == list(range(len(expected)))
    assert periods[0].start == start and periods[-1].end == end
    for a, b in zip(periods, periods[1:]):
        assert a.end + dt.timedelta(days=1) == b.start
    for i, p in enumerate(periods):
        assert p.start <= p.end
        if i > 0 and ptype is PeriodType.MONTHLY_CALENDAR:
            assert p.start.day == 1
        if i > 0 and ptype is PeriodType.ANNUAL_CALENDAR:
            assert (p.start.month, p.start.day) == (1, 1)

    # instants: aware UTC, contiguous, non-overlapping, increasing
    for a, b in zip(periods, periods[1:]):
        assert a.end_utc == b.start_utc
    for p in periods:
        assert p.start_utc.utcoffset() == dt.timedelta(0) and p.end_utc.utcoffset() == dt.timedelta(0)
        days = [p.start + dt.timedelta(days=i) for i in range((p.end - p.start).days + 1)]
        if all((zone, d) in MISSING_DAYS for d in days):
            assert p.start_utc == p.end_utc
        else:
            assert p.start_utc < p.end_utc
    nonempty = [p for p in periods if p.start_utc < p.end_utc]
    assert all(a.start_utc < b.start_utc for a, b in zip(nonempty, nonempty[1:]))

    # each boundary is the first instant at or after local midnight of its day
    for day, instant in [(p.start, p.start_utc) for p in periods] + [(end + dt.timedelta(days=1), periods[-1].end_utc)]:
        midnight = dt.datetime.combine(day, dt.time(0))
        assert wall(instant, zone) >= midnight
        assert wall(instant - US, zone) < midnight
        if (zone, day) not in MISSING_DAYS:
            assert wall(instant, zone).date() == day
            assert wall(instant, zone) - midnight <= H  # gaps at midnight are at most an hour in these zones

    # where both ends are exact local midnights, length = days * 24h - change of UTC offset
    z = zoneinfo.ZoneInfo(zone)
    for p in periods:
        if wall(p.start_utc, zone).time() == dt.time(0) and wall(p.end_utc, zone).time() == dt.time(0):
            if (zone, p.start) in MISSING_DAYS or (zone, p.end + dt.timedelta(days=1)) in MISSING_DAYS:
                continue
            shift = p.end_utc.astimezone(z).utcoffset() - p.start_utc.astimezone(z).utcoffset()
            assert p.end_utc - p.start_utc == dt.timedelta(days=(p.end - p.start).days + 1) - shift


@PROP
@given(
    start=starts,
    length=st.integers(0, 800),
    ptype=st.sampled_from(list(PeriodType)),
    zone=st.sampled_from(ZONES),
    where=st.floats(-0.05, 1.05),
)
def test_property_lookups(start, length, ptype, zone, where) -> None:
    end = start + dt.timedelta(days=length)
    periods = split_periods(start, end, ptype, zone)
    first, last = periods[0].start_utc, periods[-1].end_utc
    span = last - first
    instant = first + dt.timedelta(microseconds=int(span / dt.timedelta(microseconds=1) * where))
    got = period_index_at(periods, instant)
    linear = [p.index for p in periods if p.start_utc <= instant < p.end_utc]
    assert linear == ([] if got is None else [got])
    assert (got is None) == (instant < first or instant >= last)
    if got is not None:
        p = periods[got]
        local_day = instant.astimezone(zoneinfo.ZoneInfo(zone)).date()
        if not p.contains_date(local_day):
            # only in the repeated hour after a midnight fall-back: belongs to the new day's period
            assert zone in BACKWARD_MIDNIGHT_ZONES
            assert local_day == p.start - dt.timedelta(days=1) and instant - p.start_utc < H
        assert period_index_for_date(periods, local_day) in (got, got - 1)
        assert period_index_at(periods, p.start_utc) == got
        assert period_index_at(periods, p.end_utc - US) == got
    # dates
    day = start + dt.timedelta(days=int((length + 4) * where) - 2)
    by_date = period_index_for_date(periods, day)
    linear_d = [p.index for p in periods if p.start <= day <= p.end]
    assert linear_d == ([] if by_date is None else [by_date])
    current = current_period_index(periods, day)
    if day < start:
        assert current is None
    elif day > end:
        assert current == len(periods) - 1
    else:
        assert current == by_date


def test_speed_sixty_periods() -> None:
    import time

    t0 = time.perf_counter()
    n = 0
    for i in range(20):  # distinct inputs so caching does not help
        n += len(split_periods(D(2000 + i, 1, 31), D(2004 + i, 12, 30), "monthly_exact_day", "America/New_York"))
    per_split = (time.perf_counter() - t0) / 20
    assert n == 20 * 59
    assert per_split < 0.02  # generous for a shared CI box; ~0.3 ms locally
