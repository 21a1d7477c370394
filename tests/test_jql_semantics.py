"""tickets.jql.semantics: De Morgan, date literals, relative functions (pure, no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tickets.jql import normalise, parse
from tickets.jql.ast import Query
from tickets.jql.semantics import (
    BadDate, NeedsJira, date_function, epoch_ms, function_kind, parse_date_literal, parse_increment, parse_period,
    push_not, system_field,
)

UTC = dt.timezone.utc
IST = ZoneInfo("Europe/Istanbul")  # UTC+3
NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2023, 1, 18, 12, 34, 56, tzinfo=UTC)  # a Wednesday; 15:34:56 in Istanbul


def _pushed(text: str) -> str:
    return normalise(Query(push_not(parse(text).where)))


@pytest.mark.parametrize("query, expected", [
    ("NOT a = x", "a != x"),
    ("NOT a != x", "a = x"),
    ("NOT a > x", "a <= x"),
    ("NOT a >= x", "a < x"),
    ("NOT a < x", "a >= x"),
    ("NOT a <= x", "a > x"),
    ("NOT a IN (x, y)", "a NOT IN (x, y)"),
    ("NOT a NOT IN (x)", "a IN (x)"),
    ("NOT a IS EMPTY", "a IS NOT EMPTY"),
    ("NOT a IS NOT EMPTY", "a IS EMPTY"),
    ("NOT a ~ x", "a !~ x"),
    ("NOT a WAS x", "a WAS NOT x"),
    ("NOT NOT a = x", "a = x"),
    ("NOT (a = x AND b = y)", "a != x OR b != y"),
    ("NOT (a = x OR b = y)", "a != x AND b != y"),
    ("NOT (a = x AND NOT (b = y OR c > 3))", "a != x OR b = y OR c > 3"),
    ("a = 1 AND NOT (b = 2 AND c = 3)", "a = 1 AND (b != 2 OR c != 3)"),
])
def test_push_not_rewrites_to_the_leaves(query: str, expected: str) -> None:
    assert _pushed(query) == expected
    assert "NOT" not in _pushed(query).replace("NOT IN", "").replace("IS NOT", "").replace("WAS NOT", "")


def test_push_not_keeps_not_around_changed() -> None:
    assert _pushed("NOT status CHANGED") == "NOT status CHANGED"


@pytest.mark.parametrize("name, canonical", [
    ("Project", "project"), ("issueKey", "key"), ("TYPE", "issuetype"), ("statusCategory", "statusCategory"),
    ("resolutionDate", "resolved"), ("createdDate", "created"), ("dueDate", "due"),
    ('Customer  Request Type', "requestType"), ("Organizations", "organizations"), ("fixVersion", None),
])
def test_system_fields_are_case_insensitive(name: str, canonical: str | None) -> None:
    assert system_field(name) == canonical


def test_function_kinds() -> None:
    assert function_kind("startOfMonth") == "date"
    assert function_kind("NOW") == "date"
    assert function_kind("currentUser") == "user"
    assert function_kind("membersOf") == "remote"
    assert function_kind("openSprints") == "remote"


# ------------------------------------------------------------------------------ date literals


@pytest.mark.parametrize("text, local", [
    ("2023-01-15", dt.datetime(2023, 1, 15)),
    ("2023/01/15", dt.datetime(2023, 1, 15)),
    ("2023-01-15 14:05", dt.datetime(2023, 1, 15, 14, 5)),
    ("2023/1/5 09:00", dt.datetime(2023, 1, 5, 9, 0)),
])
def test_absolute_dates_are_wall_clock_in_the_user_zone(text: str, local: dt.datetime) -> None:
    got = parse_date_literal(text, IST, NOW)
    assert got == local - dt.timedelta(hours=3)  # Istanbul is UTC+3
    assert got.tzinfo is None


def test_absolute_date_follows_dst_of_the_zone() -> None:
    assert parse_date_literal("2023-07-01", NY, NOW) == dt.datetime(2023, 7, 1, 4)  # EDT, UTC-4
    assert parse_date_literal("2023-01-01", NY, NOW) == dt.datetime(2023, 1, 1, 5)  # EST, UTC-5


@pytest.mark.parametrize("text, delta", [
    ("-1d", dt.timedelta(days=-1)),
    ("4w 2d", dt.timedelta(weeks=4, days=2)),
    ("-4w 2d", -dt.timedelta(weeks=4, days=2)),
    ("-10w, 3minutes", -dt.timedelta(weeks=10, minutes=3)),
    ("-100minutes", dt.timedelta(minutes=-100)),
    ("-4hours", dt.timedelta(hours=-4)),
    ("-5", dt.timedelta(minutes=-5)),  # default unit: minutes
    ("+2h", dt.timedelta(hours=2)),
])
def test_relative_periods_count_from_now(text: str, delta: dt.timedelta) -> None:
    assert parse_date_literal(text, IST, NOW) == NOW.replace(tzinfo=None) + delta


@pytest.mark.parametrize("text", ["-4humor", "2023-13-01", "2023-02-30", "yesterday", "", "1M"])
def test_bad_dates_are_rejected(text: str) -> None:
    with pytest.raises(BadDate):
        parse_date_literal(text, IST, NOW)


def test_due_accepts_dates_and_day_periods_only() -> None:
    assert parse_date_literal("2023-01-15", IST, NOW, date_only=True) == dt.datetime(2023, 1, 14, 21)
    with pytest.raises(BadDate):
        parse_date_literal("2023-01-15 10:00", IST, NOW, date_only=True)
    with pytest.raises(BadDate):
        parse_date_literal("-3h", IST, NOW, date_only=True)


def test_epoch_milliseconds() -> None:
    assert epoch_ms(1000) == dt.datetime(1970, 1, 1, 0, 0, 1)
    assert epoch_ms(1673740800000) == dt.datetime(2023, 1, 15)


def test_parse_period_and_increment() -> None:
    assert parse_period("-2w 3d") == [(-2, "w"), (-3, "d")]
    assert parse_period("2023-01-01") is None
    assert parse_increment("-1", "M") == (-1, "M")
    assert parse_increment("2w", "M") == (2, "w")
    assert parse_increment("+3m", "d") == (3, "m")
    with pytest.raises(BadDate):
        parse_increment("1q", "d")


# ------------------------------------------------------------------------------ relative functions


def _f(name: str, *args: str, zone=IST, week_start: int = 6) -> dt.datetime:
    return date_function(name, args, NOW, zone, week_start=week_start)


def test_now_is_the_given_instant() -> None:
    assert _f("now") == NOW.replace(tzinfo=None)


def test_start_and_end_of_day_in_the_zone() -> None:
    assert _f("startOfDay") == dt.datetime(2023, 1, 17, 21)  # 2023-01-18 00:00 in Istanbul
    assert _f("endOfDay") == dt.datetime(2023, 1, 18, 20, 59, 59, 999000)
    assert _f("startOfDay", "-1") == dt.datetime(2023, 1, 16, 21)
    assert _f("startOfDay", "+1d") == dt.datetime(2023, 1, 18, 21)
    assert _f("startOfDay", "2h") == dt.datetime(2023, 1, 17, 23)
    assert _f("startOfDay", zone=UTC) == dt.datetime(2023, 1, 18)


def test_start_of_week_month_year() -> None:
    assert _f("startOfWeek") == dt.datetime(2023, 1, 14, 21)  # Sunday 2023-01-15 local
    assert _f("startOfWeek", week_start=0) == dt.datetime(2023, 1, 15, 21)  # Monday 2023-01-16
    assert _f("startOfMonth") == dt.datetime(2022, 12, 31, 21)
    assert _f("startOfMonth", "-1") == dt.datetime(2022, 11, 30, 21)
    assert _f("startOfMonth", "+14d") == dt.datetime(2023, 1, 14, 21)
    assert _f("startOfYear") == dt.datetime(2022, 12, 31, 21)
    assert _f("startOfYear", "-1") == dt.datetime(2021, 12, 31, 21)


def test_end_of_month_moves_whole_periods() -> None:
    assert _f("endOfMonth") == dt.datetime(2023, 1, 31, 20, 59, 59, 999000)
    assert _f("endOfMonth", "+1") == dt.datetime(2023, 2, 28, 20, 59, 59, 999000)  # not March 3rd
    assert _f("endOfMonth", "-1M") == dt.datetime(2022, 12, 31, 20, 59, 59, 999000)
    assert _f("endOfYear") == dt.datetime(2023, 12, 31, 20, 59, 59, 999000)
    assert _f("endOfWeek") == dt.datetime(2023, 1, 21, 20, 59, 59, 999000)  # Saturday night local


def test_start_of_day_across_a_dst_change() -> None:
    spring = dt.datetime(2023, 3, 13, 12, tzinfo=UTC)  # New York switched to EDT on 2023-03-12
    assert date_function("startOfDay", ("-1",), spring, NY) == dt.datetime(2023, 3, 12, 5)  # still EST at midnight
    assert date_function("startOfDay", (), spring, NY) == dt.datetime(2023, 3, 13, 4)


def test_bad_increments_and_non_date_functions() -> None:
    with pytest.raises(BadDate):
        _f("startOfMonth", "soon")
    with pytest.raises(NeedsJira):
        _f("membersOf", "x")
