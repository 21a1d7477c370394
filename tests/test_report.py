"""Report assembly and Report JSON (domain.md, interfaces.md "Report JSON")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from decimal import Decimal
from fractions import Fraction

import pytest

from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType
from tickets.report import (
    ClauseStatus,
    Measurement,
    QuotaRow,
    SlaRow,
    build_report,
    current_summary,
    rate_percent,
    report_to_json,
    report_to_json_dict,
)

D = dt.date
H = 3600
UTC = dt.timezone.utc
IC, SH, SLA = ClauseType.ISSUE_COUNT, ClauseType.SERVICE_HOURS, ClauseType.SLA_SUCCESS_RATE
LIM, CON = AmendKind.LIMIT, AmendKind.CONSUMPTION


# --- a small contract, expected JSON written by hand from interfaces.md --------

SMALL = Contract(
    name="Small",
    start=D(2025, 1, 1),
    end=D(2025, 2, 28),
    time_zone="Europe/Istanbul",
    period_type=PeriodType.MONTHLY_CALENDAR,
    clauses=(
        Clause("Hours", SH, "project = ABC", limit=5 * H,
               amends=(Amend(D(2025, 2, 1), LIM, 1 * H, "Bought 1 h"),)),
        Clause("All", IC, "project = ABC", limit=None,
               amends=(Amend(D(2025, 1, 20), CON, 2, "Migrated tickets"),
                       Amend(D(2025, 3, 1), CON, -1, "late"))),
        Clause("Resolution SLA", SLA, "project = ABC", sla=("Time to resolution",),
               target=Decimal("99.5")),
    ),
)

SMALL_MEASUREMENTS = {
    "Hours": [Measurement(issues=7, seconds=45000), Measurement(issues=1, seconds=18)],
    "All": [Measurement(issues=3), Measurement(issues=0)],
    "Resolution SLA": [Measurement(issues=40, breached=1), Measurement()],
}

NULL_LEDGER = dict(limit=None, limit_amends=None, carried_in=None, debt_in=None, available=None)

SMALL_EXPECTED = {
    "contract": {"name": "Small", "start": "2025-01-01", "end": "2025-02-28",
                 "time_zone": "Europe/Istanbul", "period_type": "monthly_calendar",
                 "carry_over": False, "borrowing": False},
    "as_of": "2025-02-10",
    "synced_at": "2025-02-10T08:00:00Z",
    "periods": [{"index": 0, "start": "2025-01-01", "end": "2025-01-31"},
                {"index": 1, "start": "2025-02-01", "end": "2025-02-28"}],
    "current_period": 1,
    "clauses": [
        {"name": "Hours", "type": "service_hours", "jql": "project = ABC",
         "limited": True, "limit": 5, "valid": True, "error": None,
         "periods": [
             {"index": 0, "limit": 5, "limit_amends": 0, "carried_in": 0, "debt_in": 0,
              "available": 5, "consumed": 12.5, "consumption_amends": 0, "total_used": 12.5,
              "remaining": -7.5, "carried_out": 0, "debt_out": 0, "over": 7.5,
              "status": "fail", "issues": 7, "notes": [], "limit_total": 5, "future": False},
             # 18 s = 0.005 h -> 0.01; remaining 21582 s = 5.995 h -> 6.00
             {"index": 1, "limit": 5, "limit_amends": 1, "carried_in": 0, "debt_in": 0,
              "available": 6, "consumed": 0.01, "consumption_amends": 0, "total_used": 0.01,
              "remaining": 6, "carried_out": 0, "debt_out": 0, "over": 0,
              "status": "success", "issues": 1, "notes": ["Bought 1 h"], "limit_total": 6,
              "future": False},
         ],
         "outside_contract_amends": [],
         "evaluated_by": None},
        {"name": "All", "type": "issue_count", "jql": "project = ABC",
         "limited": False, "limit": None, "valid": True, "error": None,
         "periods": [
             {"index": 0, "limit": None, "limit_amends": None, "carried_in": None,
              "debt_in": None, "available": None, "consumed": 3, "consumption_amends": 2,
              "total_used": 5, "remaining": None, "carried_out": None, "debt_out": None,
              "over": None, "status": "success", "issues": 3, "notes": ["Migrated tickets"],
              "limit_total": None, "future": False},
             {"index": 1, "limit": None, "limit_amends": None, "carried_in": None,
              "debt_in": None, "available": None, "consumed": 0, "consumption_amends": 0,
              "total_used": 0, "remaining": None, "carried_out": None, "debt_out": None,
              "over": None, "status": "success", "issues": 0, "notes": [],
              "limit_total": None, "future": False},
         ],
         "outside_contract_amends": [
             {"date": "2025-03-01", "kind": "consumption", "value": -1, "notes": "late"}],
         "evaluated_by": None},
        {"name": "Resolution SLA", "type": "sla_success_rate", "jql": "project = ABC",
         "sla": ["Time to resolution"], "target": 99.5, "valid": True, "error": None,
         "periods": [
             {"index": 0, "issues": 40, "breached": 1, "rate": 97.5, "status": "fail",
              "future": False},
             {"index": 1, "issues": 0, "breached": 0, "rate": None, "status": "success",
              "future": False},
         ],
         "evaluated_by": None},
    ],
}


def small_report(**kw):
    return build_report(
        SMALL, SMALL_MEASUREMENTS, as_of=D(2025, 2, 10),
        synced_at=dt.datetime(2025, 2, 10, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        **kw,
    )


def test_small_contract_json_by_hand() -> None:
    report = small_report()
    assert report_to_json_dict(report) == SMALL_EXPECTED
    assert json.loads(report_to_json(report)) == SMALL_EXPECTED


def test_json_key_order_follows_interfaces_md() -> None:
    d = json.loads(report_to_json(small_report()))
    assert list(d) == ["contract", "as_of", "synced_at", "periods", "current_period", "clauses"]
    assert list(d["contract"]) == ["name", "start", "end", "time_zone", "period_type",
                                   "carry_over", "borrowing"]
    assert list(d["periods"][0]) == ["index", "start", "end"]
    hours, _all, sla = d["clauses"]
    assert list(hours)[:8] == ["name", "type", "jql", "limited", "limit", "valid", "error",
                               "periods"]
    assert list(hours["periods"][0])[:16] == [
        "index", "limit", "limit_amends", "carried_in", "debt_in", "available", "consumed",
        "consumption_amends", "total_used", "remaining", "carried_out", "debt_out", "over",
        "status", "issues", "notes"]
    assert list(sla)[:8] == ["name", "type", "jql", "sla", "target", "valid", "error", "periods"]
    assert list(sla["periods"][0])[:5] == ["index", "issues", "breached", "rate", "status"]


def test_json_numbers_are_clean() -> None:
    text = report_to_json(small_report(), indent=None)
    assert '"consumed": 12.5,' in text
    assert '"remaining": -7.5,' in text
    assert '"consumed": 0.01,' in text
    assert '"target": 99.5,' in text
    assert '"limit": 5,' in text  # whole hours are JSON ints
    assert "00000" not in text and "99999" not in text


@pytest.mark.parametrize(
    ("seconds", "hours"),
    [(18, 0.01), (17, 0), (45, 0.01), (54, 0.02), (9, 0), (5382, 1.5), (1782, 0.5),
     (36000, 10), (45000, 12.5), (3599, 1), (-18, -0.01)],
)
def test_hours_rounded_half_up_only_at_output(seconds: int, hours: float) -> None:
    c = Contract("H", D(2025, 1, 1), D(2025, 1, 31), "UTC", PeriodType.FIXED,
                 clauses=(Clause("Hours", SH, "x", limit=0),))
    # consumed is measured seconds; a consumption amend of 2*seconds (< 0) makes total_used -seconds
    amend = Amend(D(2025, 1, 5), CON, 2 * seconds, "credit") if seconds < 0 else None
    if amend:
        c = dataclasses.replace(c, clauses=(Clause("Hours", SH, "x", limit=0, amends=(amend,)),))
    m = abs(seconds)
    report = build_report(c, {"Hours": [Measurement(issues=1, seconds=m)]},
                          as_of=D(2025, 1, 10), synced_at=None)
    row = report.clauses[0].rows[0]
    assert isinstance(row, QuotaRow)
    assert row.total_used == seconds  # exact seconds kept internally
    p = report_to_json_dict(report)["clauses"][0]["periods"][0]
    assert p["total_used"] == hours
    assert type(p["total_used"]) is (int if hours == int(hours) else float)
    assert p["remaining"] == -hours


# --- a contract with every clause type -----------------------------------------

FULL = Contract(
    name="Acme Corp",
    start=D(2025, 1, 1),
    end=D(2025, 3, 31),
    time_zone="UTC",
    period_type=PeriodType.MONTHLY_CALENDAR,
    clauses=(
        Clause("Tickets", IC, "project = ABC", limit=3, amends=(
            Amend(D(2025, 2, 10), LIM, 2, "Extra for Feb"),
            Amend(D(2025, 2, 20), CON, -1, "Duplicate ticket"),
            Amend(D(2025, 3, 31), LIM, -1, ""),
            Amend(D(2024, 12, 31), CON, 5, "Before the contract"),
            Amend(D(2025, 4, 1), LIM, 9, "After the contract"),
        )),
        Clause("Hours", SH, "project = ABC", limit=10 * H,
               amends=(Amend(D(2025, 1, 31), CON, -(H // 2), "Goodwill credit"),)),
        Clause("All", IC, "project = ABC", limit=None),
        Clause("SLA", SLA, "project = ABC", sla=("Time to resolution", "Time to first response"),
               target=Decimal("90")),
        Clause("Broken", IC, "projct = = ABC", limit=5),
        Clause("Broken SLA", SLA, "foo", sla=("Time to resolution",), target=Decimal("100")),
    ),
)

FULL_MEASUREMENTS = {
    "Tickets": [Measurement(issues=2), Measurement(issues=6), Measurement()],
    "Hours": [Measurement(issues=4, seconds=11 * H), Measurement(issues=1, seconds=H),
              Measurement()],
    "All": [Measurement(issues=9), Measurement(issues=12), Measurement()],
    "SLA": [Measurement(issues=10, breached=1), Measurement(issues=3, breached=1), Measurement()],
}

FULL_STATUS = {
    "Broken": ClauseStatus(valid=False, error="line 1, column 8: unexpected '='"),
    "Broken SLA": ClauseStatus(valid=False, error="Field 'foo' does not exist"),
    "SLA": ClauseStatus(evaluated_by="jira at 2025-02-14T08:00:00Z"),
}


def full_report(**kw):
    return build_report(FULL, FULL_MEASUREMENTS, as_of=D(2025, 2, 14),
                        synced_at=dt.datetime(2025, 2, 14, 8, tzinfo=UTC),
                        clause_status=FULL_STATUS, **kw)


def test_full_contract_figures() -> None:
    r = full_report()
    assert r.current_period == 1
    assert [c.name for c in r.clauses] == ["Tickets", "Hours", "All", "SLA", "Broken", "Broken SLA"]
    t = r.clause("tickets")
    assert [row.limit_total for row in t.rows] == [3, 5, 2]
    assert [row.consumption_amends for row in t.rows] == [0, -1, 0]
    assert [row.total_used for row in t.rows] == [2, 5, 0]
    assert [row.remaining for row in t.rows] == [1, 0, 2]
    assert [row.status for row in t.rows] == ["success"] * 3
    assert [row.notes for row in t.rows] == [(), ("Extra for Feb", "Duplicate ticket"), ()]
    assert [(a.date, a.value) for a in t.outside_amends] == [(D(2024, 12, 31), 5), (D(2025, 4, 1), 9)]
    assert [row.future for row in t.rows] == [False, False, True]

    h = r.clause("Hours")
    assert [row.total_used for row in h.rows] == [11 * H - H // 2, H, 0]
    assert h.rows[0].over == H // 2 and h.rows[0].remaining == -(H // 2)

    a = r.clause("All")
    assert [row.total_used for row in a.rows] == [9, 12, 0]
    assert all(row.available is None and row.over is None for row in a.rows)
    assert all(row.status == "success" for row in a.rows)

    s = r.clause("SLA")
    assert isinstance(s.rows[0], SlaRow)
    assert [row.rate for row in s.rows] == [Fraction(9, 10), Fraction(2, 3), None]
    assert [row.status for row in s.rows] == ["success", "fail", "success"]
    assert s.evaluated_by == "jira at 2025-02-14T08:00:00Z"

    b = r.clause("Broken")
    assert not b.valid and b.error == "line 1, column 8: unexpected '='"
    assert len(b.rows) == 3 and all(row.total_used is None and row.status is None for row in b.rows)


def test_full_contract_json() -> None:
    d = json.loads(report_to_json(full_report()))
    assert d["current_period"] == 1
    tickets, hours, unlimited, sla, broken, broken_sla = d["clauses"]
    assert [p["future"] for p in tickets["periods"]] == [False, False, True]
    assert tickets["periods"][1]["notes"] == ["Extra for Feb", "Duplicate ticket"]
    assert tickets["outside_contract_amends"] == [
        {"date": "2024-12-31", "kind": "consumption", "value": 5, "notes": "Before the contract"},
        {"date": "2025-04-01", "kind": "limit", "value": 9, "notes": "After the contract"},
    ]
    # outside amends are counted nowhere
    assert [p["consumption_amends"] for p in tickets["periods"]] == [0, -1, 0]
    assert [p["limit_amends"] for p in tickets["periods"]] == [0, 2, -1]
    assert hours["periods"][0]["consumption_amends"] == -0.5
    assert hours["periods"][0]["total_used"] == 10.5
    assert unlimited["limited"] is False and unlimited["limit"] is None
    assert unlimited["periods"][1]["total_used"] == 12
    assert sla["periods"][1]["rate"] == 66.67
    assert sla["target"] == 90
    assert sla["evaluated_by"] == "jira at 2025-02-14T08:00:00Z"
    assert broken["valid"] is False and broken["error"] == "line 1, column 8: unexpected '='"
    assert broken["limit"] == 5 and broken["limited"] is True
    figures = ["limit", "limit_amends", "carried_in", "debt_in", "available", "consumed",
               "consumption_amends", "total_used", "remaining", "carried_out", "debt_out",
               "over", "status", "issues"]
    for p in broken["periods"]:
        assert all(p[k] is None for k in figures), p
    assert broken_sla["valid"] is False and broken_sla["error"] == "Field 'foo' does not exist"
    for p in broken_sla["periods"]:
        assert p["issues"] is None and p["rate"] is None and p["status"] is None


def test_invalid_clauses_need_no_measurements_but_valid_ones_do() -> None:
    full_report()  # "Broken" is absent from FULL_MEASUREMENTS
    missing = {k: v for k, v in FULL_MEASUREMENTS.items() if k != "Hours"}
    with pytest.raises(ValueError, match="Hours"):
        build_report(FULL, missing, as_of=D(2025, 2, 14), synced_at=None,
                     clause_status=FULL_STATUS)
    short = dict(FULL_MEASUREMENTS, Hours=[Measurement()])
    with pytest.raises(ValueError, match="1 measurements for 3 periods"):
        build_report(FULL, short, as_of=D(2025, 2, 14), synced_at=None,
                     clause_status=FULL_STATUS)


def test_measurements_from_a_callable() -> None:
    seen = []

    def measure(clause, periods):
        seen.append(clause.name)
        assert [p.index for p in periods] == [0, 1, 2]
        return FULL_MEASUREMENTS[clause.name]

    r = build_report(FULL, measure, as_of=D(2025, 2, 14),
                     synced_at=dt.datetime(2025, 2, 14, 8, tzinfo=UTC), clause_status=FULL_STATUS)
    assert seen == ["Tickets", "Hours", "All", "SLA"]
    assert report_to_json_dict(r) == report_to_json_dict(full_report())


# --- SLA rate: rounding and status -----------------------------------------------


@pytest.mark.parametrize(
    ("issues", "breached", "target", "rate", "status"),
    [
        (40, 1, "97.5", 97.5, "success"),  # exactly at the target
        (40, 1, "97.51", 97.5, "fail"),
        (3, 1, "66.66", 66.67, "success"),  # 66.666.. rounds up for display
        (6, 5, "10", 16.67, "success"),
        (800, 1, "99.87", 99.88, "success"),  # 99.875 -> half-up
        (800, 799, "50", 0.13, "fail"),  # 0.125 -> half-up
        (199, 1, "99.5", 99.5, "fail"),  # 99.497.. shows 99.5 but is below the target
        (5, 0, "100", 100, "success"),
        (5, 5, "0.01", 0, "fail"),
        (0, 0, "100", None, "success"),  # no issues: rate null, success
    ],
)
def test_sla_rate_rounding_and_status(issues, breached, target, rate, status) -> None:
    c = Contract("S", D(2025, 1, 1), D(2025, 1, 31), "UTC", PeriodType.FIXED,
                 clauses=(Clause("SLA", SLA, "x", sla=("Time to resolution",),
                                 target=Decimal(target)),))
    r = build_report(c, {"SLA": [Measurement(issues=issues, breached=breached)]},
                     as_of=D(2025, 1, 31), synced_at=None)
    p = report_to_json_dict(r)["clauses"][0]["periods"][0]
    assert p["rate"] == rate
    assert p["status"] == status
    assert p["issues"] == issues and p["breached"] == breached


def test_rate_percent_exact() -> None:
    assert rate_percent(None) is None
    assert rate_percent(Fraction(1, 8)) == Decimal("12.50")
    assert rate_percent(Fraction(1, 3)) == Decimal("33.33")
    assert rate_percent(Fraction(2, 3)) == Decimal("66.67")
    assert rate_percent(Fraction(1, 800)) == Decimal("0.13")
    assert rate_percent(Fraction(1)) == Decimal("100.00")


# --- policies: the worked example as a report, overrides as a preview --------------

WORKED = Contract(
    name="Worked", start=D(2025, 1, 1), end=D(2025, 4, 30), time_zone="Europe/Istanbul",
    period_type=PeriodType.MONTHLY_CALENDAR,
    clauses=(Clause("Tickets", IC, "x", limit=100), Clause("Hours", SH, "x", limit=100 * H)),
)
WORKED_M = {
    "Tickets": [Measurement(issues=n) for n in (80, 110, 130, 50)],
    "Hours": [Measurement(issues=1, seconds=n * H) for n in (80, 110, 130, 50)],
}


def worked(**kw):
    return build_report(WORKED, WORKED_M, as_of=D(2025, 6, 1), synced_at=None, **kw)


@pytest.mark.parametrize(
    ("carry", "borrow", "over", "available"),
    [
        (False, False, [0, 10, 30, 0], [100, 100, 100, 100]),
        (True, False, [0, 0, 20, 0], [100, 120, 110, 100]),
        (False, True, [0, 0, 0, 0], [100, 100, 90, 60]),
        (True, True, [0, 0, 0, 0], [100, 120, 110, 80]),
    ],
)
def test_worked_example_in_the_report(carry, borrow, over, available) -> None:
    r = worked(carry_over=carry, borrowing=borrow)
    assert r.current_period == 3  # after the end: the last period
    d = report_to_json_dict(r)
    assert d["contract"]["carry_over"] is carry and d["contract"]["borrowing"] is borrow
    for clause in d["clauses"]:
        assert [p["over"] for p in clause["periods"]] == over
        assert [p["available"] for p in clause["periods"]] == available
        assert [p["status"] for p in clause["periods"]] == ["fail" if o else "success" for o in over]
    # the same by flipping the policies of a report without re-measuring
    flipped = worked().with_policies(carry, borrow)
    assert report_to_json_dict(flipped) == d


def test_override_is_a_preview_and_never_alters_the_contract() -> None:
    before = dataclasses.replace(WORKED)
    r = worked(carry_over=True, borrowing=True)
    assert WORKED == before and WORKED.carry_over is False and WORKED.borrowing is False
    assert r.contract is WORKED
    assert (r.carry_over, r.borrowing) == (True, True)
    back = r.with_policies(carry_over=False, borrowing=False)
    assert back.contract.carry_over is False
    assert [row.over for row in back.clause("Tickets").rows] == [0, 10, 30, 0]
    assert [row.over for row in r.clause("Tickets").rows] == [0, 0, 0, 0]  # r unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        WORKED.carry_over = True  # type: ignore[misc]


def test_contract_policies_are_the_default() -> None:
    own = dataclasses.replace(WORKED, carry_over=True)
    r = build_report(own, WORKED_M, as_of=D(2025, 6, 1), synced_at=None)
    assert (r.carry_over, r.borrowing) == (True, False)
    assert [row.over for row in r.clause("Tickets").rows] == [0, 0, 20, 0]
    r2 = build_report(own, WORKED_M, as_of=D(2025, 6, 1), synced_at=None, carry_over=False)
    assert [row.over for row in r2.clause("Tickets").rows] == [0, 10, 30, 0]


def test_current_period_before_start_and_future_periods() -> None:
    r = build_report(WORKED, WORKED_M, as_of=D(2024, 12, 31), synced_at=None)
    assert r.current_period is None
    d = report_to_json_dict(r)
    assert d["current_period"] is None and d["synced_at"] is None
    assert all(p["future"] for p in d["clauses"][0]["periods"])
    r = build_report(WORKED, WORKED_M, as_of=D(2025, 2, 28), synced_at=None)
    assert r.current_period == 1
    assert [row.future for row in r.clause("Hours").rows] == [False, False, True, True]
    r = build_report(WORKED, WORKED_M, as_of=D(2025, 2, 1), synced_at=None)
    assert [row.future for row in r.clause("Hours").rows] == [False, False, True, True]


# --- current period summary --------------------------------------------------------


def test_current_summary() -> None:
    s = current_summary(full_report(carry_over=True))
    by = {d["name"]: d for d in s}
    assert [d["name"] for d in s] == ["Tickets", "Hours", "All", "SLA", "Broken", "Broken SLA"]
    # Tickets: Jan 3 - 2 = 1 carried; Feb 3 + 2 + 1 = 6 available, 6 - 1 = 5 used
    assert by["Tickets"]["period"] == 1
    assert (by["Tickets"]["available"], by["Tickets"]["used"], by["Tickets"]["remaining"],
            by["Tickets"]["status"]) == (6, 5, 1, "success")
    # Hours: Jan 10 h - 10.5 h used -> over; Feb 10 h available, 1 h used
    assert (by["Hours"]["available"], by["Hours"]["used"], by["Hours"]["remaining"]) == (10, 1, 9)
    assert by["Hours"]["unit"] == "hours"
    assert by["All"]["available"] is None and by["All"]["used"] == 12
    assert by["All"]["status"] == "success"
    assert (by["SLA"]["rate"], by["SLA"]["target"], by["SLA"]["status"]) == (66.67, 90, "fail")
    assert by["Broken"]["valid"] is False and by["Broken"]["status"] is None
    json.dumps(s)  # JSON-ready


def test_current_summary_before_start() -> None:
    r = build_report(WORKED, WORKED_M, as_of=D(2024, 6, 1), synced_at=None)
    for d in current_summary(r):
        assert d["period"] is None and d["status"] is None and d["used"] is None


def test_policy_flip_is_cheap() -> None:
    c = Contract("Big", D(2020, 1, 1), D(2024, 12, 31), "UTC", PeriodType.MONTHLY_CALENDAR,
                 clauses=tuple(Clause(f"C{i}", SH, "x", limit=80 * H) for i in range(10)))
    m = {f"C{i}": [Measurement(issues=1, seconds=(k * 37 % 180) * H) for k in range(60)]
         for i in range(10)}
    calls = []

    def measure(clause, periods):
        calls.append(clause.name)
        return m[clause.name]

    r = build_report(c, measure, as_of=D(2023, 1, 1), synced_at=None)
    assert len(r.periods) == 60 and len(calls) == 10
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        flipped = r.with_policies(carry_over=True, borrowing=True)
        best = min(best, time.perf_counter() - t0)
    assert len(calls) == 10  # no re-measuring
    assert flipped.carry_over and flipped.borrowing
    # both policies: total over is the contract excess (sum used - sum limit)
    used = sum(k * 37 % 180 for k in range(60))
    assert sum(row.over for row in flipped.clause("C0").rows) == (used - 80 * 60) * H > 0
    assert best < 0.025
