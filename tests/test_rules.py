"""tickets.rules: one rule, one function (domain.md "Contract", "Clauses", "Amends", "Customer portal")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from tickets import rules
from tickets.errors import InputError
from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal

IC, SH, SLA = ClauseType.ISSUE_COUNT, ClauseType.SERVICE_HOURS, ClauseType.SLA_SUCCESS_RATE


def _is_message(msg: object) -> bool:
    return isinstance(msg, str) and bool(msg) and msg[0] == msg[0].lower()


# --- names ---------------------------------------------------------------------


def test_contract_name_required_trimmed_and_capped() -> None:
    assert rules.check_contract_name("Acme Corp - Monthly Support 2025") is None
    assert rules.parse_contract_name("  Acme  ") == "Acme"
    for blank in ("", "   ", None):
        assert rules.check_contract_name(blank) == "is required"
    assert rules.check_contract_name("x" * 200) is None
    msg = rules.check_contract_name("x" * 201)
    assert _is_message(msg) and "200" in msg
    # trimming happens before the length check
    assert rules.check_contract_name(" " + "x" * 200 + " ") is None
    assert rules.check_contract_name(12) == "must be a string"


def test_clause_name_required() -> None:
    assert rules.check_clause_name("Service hours") is None
    assert rules.check_clause_name(" ") == "is required"


def test_unique_names_are_case_insensitive() -> None:
    assert rules.check_unique_name("Acme", ["Globex", "Initech"]) is None
    msg = rules.check_unique_name("ACME ", ["Globex", "acme"])
    assert _is_message(msg) and "duplicate" in msg
    assert rules.duplicate_name_indexes(["A", "b", "a", "B ", "c"]) == [
        (2, rules.duplicate_name_indexes(["A", "a"])[0][1]),
        (3, rules.duplicate_name_indexes(["b", "B "])[0][1]),
    ]
    assert [i for i, _ in rules.duplicate_name_indexes(["Straße", "STRASSE"])] == [1]  # casefold
    assert rules.duplicate_name_indexes(["x", "y"]) == []


# --- dates, zone, period type --------------------------------------------------------


def test_dates() -> None:
    assert rules.parse_date("2025-01-31") == dt.date(2025, 1, 31)
    assert rules.parse_date(dt.date(2024, 2, 29)) == dt.date(2024, 2, 29)
    assert "not a valid date" in rules.check_date("2025-02-30")
    for bad in ("20250101", "2025-1-1", "01/02/2025", "2025-01-01T00:00"):
        assert "YYYY-MM-DD" in rules.check_date(bad), bad
    assert rules.check_date(dt.datetime(2025, 1, 1)) is not None
    assert rules.check_date("") == "is required"
    assert rules.check_date(20250101) == "must be a string"


def test_end_not_before_start() -> None:
    d = dt.date
    assert rules.check_date_order(d(2025, 1, 1), d(2025, 1, 1)) is None  # one-day contract: inclusive
    assert rules.check_date_order(d(2025, 1, 1), d(2025, 12, 31)) is None
    msg = rules.check_date_order(d(2025, 1, 2), d(2025, 1, 1))
    assert _is_message(msg) and "2025-01-02" in msg


def test_time_zone() -> None:
    for ok in ("Europe/Istanbul", "UTC", "America/Argentina/Buenos_Aires", "Asia/Kolkata"):
        assert rules.check_time_zone(ok) is None, ok
    assert rules.check_time_zone("Mars/Base") == "unknown time zone 'Mars/Base'"
    assert rules.check_time_zone("europe/istanbul") is not None  # IANA names are exact
    assert rules.check_time_zone("../../etc/passwd") is not None
    assert rules.check_time_zone("") == "is required"
    assert rules.check_time_zone(3) == "must be a string"


def test_period_type() -> None:
    for value in ("fixed", "monthly_calendar", "monthly_exact_day", "annual_calendar", "annual_exact_day"):
        assert rules.parse_period_type(value) is PeriodType(value)
    assert rules.parse_period_type(PeriodType.FIXED) is PeriodType.FIXED
    msg = rules.check_period_type("weekly")
    assert msg.startswith("unknown period type 'weekly'") and "monthly_calendar" in msg


def test_clause_type_and_amend_kind() -> None:
    assert rules.parse_clause_type("sla_success_rate") is SLA
    assert rules.check_clause_type("hours").startswith("unknown clause type 'hours'")
    assert rules.parse_amend_kind("consumption") is AmendKind.CONSUMPTION
    assert rules.check_amend_kind("credit").startswith("unknown amend kind 'credit'")


def test_bool() -> None:
    assert rules.parse_bool(True) is True
    assert rules.parse_bool("no") is False
    assert rules.check_bool(1) == "must be true or false"


# --- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctype", "raw", "units"),
    [
        (IC, "3", 3),
        (IC, 0, 0),
        (IC, Decimal("7"), 7),
        (IC, Decimal("7.0"), 7),
        (SH, "50", 50 * 3600),
        (SH, "12.5", 45000),
        (SH, " 0.01 ", 36),
        (SH, Decimal("12.35"), 44460),
        (SH, 0.1, 360),  # a float by its repr, not 0.1000000000000000055...
        (SH, "0", 0),
    ],
)
def test_parse_limit(ctype: ClauseType, raw: object, units: int) -> None:
    assert rules.parse_limit(ctype, raw) == units
    assert rules.check_limit(ctype, raw) is None


@pytest.mark.parametrize(
    ("ctype", "raw", "message"),
    [
        (IC, "-1", "must be >= 0"),
        (SH, Decimal("-0.5"), "must be >= 0"),
        (IC, "2.5", "must be a whole number"),
        (IC, Decimal("0.1"), "must be a whole number"),
        (SH, "12.345", "must have at most 2 decimals"),
        (SH, Decimal("0.001"), "must have at most 2 decimals"),
        (IC, True, "must be a number"),
        (SH, False, "must be a number"),
        (IC, "", "is required"),
        (IC, None, "is required"),
        (SH, "1e3", "must be a number, not '1e3'"),
        (SH, "1,5", "must be a number, not '1,5'"),
        (SH, "NaN", "must be a number, not 'NaN'"),
        (SH, Decimal("Infinity"), "must be a finite number"),
        (IC, [3], "must be a number"),
    ],
)
def test_bad_limit(ctype: ClauseType, raw: object, message: str) -> None:
    assert rules.check_limit(ctype, raw) == message
    with pytest.raises(rules.RuleError, match="^" + message.replace("(", r"\(")):
        rules.parse_limit(ctype, raw)


def test_limit_rules_are_input_errors_and_sla_has_none() -> None:
    with pytest.raises(InputError):
        rules.parse_limit(IC, "-3")
    assert rules.check_limit(SLA, "3") == "limits are not allowed on SLA success rate clauses"
    assert rules.check_limit(IC, "1000000001") is not None  # beyond MAX_NUMBER


def test_fields_per_clause_type() -> None:
    assert rules.check_quota_field_allowed(IC, "limit") is None
    assert rules.check_quota_field_allowed(SH, "amends") is None
    assert rules.check_quota_field_allowed(SLA, "sla") is None
    assert rules.check_quota_field_allowed(SLA, "target") is None
    assert rules.check_quota_field_allowed(SLA, "amends") == "amends are not allowed on SLA success rate clauses"
    assert "not allowed" in rules.check_quota_field_allowed(SLA, "limit")
    assert "only allowed on sla_success_rate" in rules.check_quota_field_allowed(IC, "sla")
    assert "only allowed on sla_success_rate" in rules.check_quota_field_allowed(SH, "target")


# --- SLA and target ----------------------------------------------------------------------


def test_sla_list() -> None:
    assert rules.parse_sla(["Time to resolution"]) == ("Time to resolution",)
    assert rules.parse_sla("Time to first response, Time to resolution") == (
        "Time to first response",
        "Time to resolution",
    )
    assert rules.check_sla([]) == "must name at least one SLA"
    assert rules.check_sla("") == "must name at least one SLA"
    assert rules.check_sla(["Time to resolution", " "]) == "SLA names must not be blank"
    assert "twice" in rules.check_sla(["A", "a"])
    assert rules.check_sla({"a": 1}) == "must be a list"
    assert rules.check_sla([1]) == "must be a list of strings"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, Decimal(100)), ("", Decimal(100)), ("99.5", Decimal("99.5")), (100, Decimal(100)), ("0.01", Decimal("0.01"))],
)
def test_target_ok(raw: object, expected: Decimal) -> None:
    assert rules.parse_target(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (0, "must be greater than 0"),
        ("-5", "must be greater than 0"),
        (101, "must be at most 100"),
        ("100.01", "must be at most 100"),
        ("99.555", "must have at most 2 decimals"),
        (True, "must be a number"),
    ],
)
def test_target_bad(raw: object, message: str) -> None:
    assert rules.check_target(raw) == message


# --- amends ----------------------------------------------------------------------------------


def test_amend_value() -> None:
    assert rules.parse_amend_value(IC, "-2") == -2
    assert rules.parse_amend_value(SH, "-2.5") == -9000
    assert rules.parse_amend_value(SH, Decimal("0.25")) == 900
    assert rules.check_amend_value(IC, "0") == "must not be 0"
    assert rules.check_amend_value(SH, "0.00") == "must not be 0"
    assert rules.check_amend_value(IC, "1.5") == "must be a whole number"
    assert rules.check_amend_value(SH, "-1.005") == "must have at most 2 decimals"
    assert rules.check_amend_value(IC, True) == "must be a number"
    assert rules.check_amend_value(SLA, "1") == "amends are not allowed on SLA success rate clauses"


def test_amend_allowed() -> None:
    assert rules.check_amend_allowed(IC, True, "limit") is None
    assert rules.check_amend_allowed(SH, False, AmendKind.CONSUMPTION) is None  # consumption on unlimited is fine
    assert rules.check_amend_allowed(SH, False, "limit") == "limit amends are not allowed on unlimited clauses"
    for kind in ("limit", "consumption", None):
        assert rules.check_amend_allowed(SLA, False, kind) == "amends are not allowed on SLA success rate clauses"


def test_amend_date_outside_contract_is_still_a_date() -> None:
    assert rules.check_amend_date("1999-12-31") is None
    assert rules.check_amend_date("2025-13-01") is not None


def test_portal_fields() -> None:
    assert rules.parse_portal_projects(["ABC", "OPS_2"]) == ("ABC", "OPS_2")
    assert rules.parse_portal_projects("ABC, DEF") == ("ABC", "DEF")
    assert rules.parse_portal_projects([]) == ()
    assert "not a valid project key" in rules.check_portal_projects(["A B"])
    assert rules.check_portal_projects("ABC") is None
    assert rules.check_portal_users(["5b10ac8d82e05b22cc7d4ef5"]) is None
    assert rules.check_portal_users([""]) == "account id must not be blank"
    assert rules.check_portal_organizations({"Acme": 1}) == "must be a list"
    assert rules.check_portal_organizations([3]) == "must be a list of strings"


# --- validate_contract ---------------------------------------------------------------------


def _good() -> Contract:
    return Contract(
        name="Acme",
        start=dt.date(2025, 1, 1),
        end=dt.date(2025, 12, 31),
        time_zone="Europe/Istanbul",
        period_type=PeriodType.MONTHLY_CALENDAR,
        clauses=(
            Clause("Tickets", IC, "project = ABC", limit=3),
            Clause("Hours", SH, "project = ABC", limit=45000,
                   amends=(Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, -900, "credit"),)),
            Clause("All", IC, "project = ABC", limit=None,
                   amends=(Amend(dt.date(2025, 3, 1), AmendKind.CONSUMPTION, 2),)),
            Clause("SLA", SLA, "project = ABC", sla=("Time to resolution",), target=Decimal("99.5")),
        ),
        portal=Portal(True, ("ABC",), ("u1",), ("Acme",)),
    )


def test_validate_good_contract() -> None:
    assert rules.validate_contract(_good()) == []


def test_validate_contract_finds_every_problem_with_its_path() -> None:
    c = _good()
    cl = list(c.clauses)
    cl[0] = dataclasses.replace(cl[0], limit=-1)
    cl[1] = dataclasses.replace(cl[1], limit=45001)  # not a hundredth of an hour
    cl[2] = dataclasses.replace(cl[2], amends=(Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 2),), name="tickets")
    cl[3] = dataclasses.replace(cl[3], target=Decimal(0),
                                amends=(Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 2),))
    bad = dataclasses.replace(
        c, name=" ", end=dt.date(2024, 12, 31), time_zone="Mars/Base", clauses=tuple(cl),
        portal=Portal(portal_projects=("A B",)),
    )
    problems = dict(rules.validate_contract(bad, "contracts[3]"))
    assert problems == {
        "contracts[3].name": "is required",
        "contracts[3].end": "must be on or after the start date 2025-01-01",
        "contracts[3].time_zone": "unknown time zone 'Mars/Base'",
        "contracts[3].clauses[0].limit": "must be >= 0",
        "contracts[3].clauses[1].limit": "must have at most 2 decimals (a multiple of 36 seconds)",
        "contracts[3].clauses[2].amends[0].kind": "limit amends are not allowed on unlimited clauses",
        "contracts[3].clauses[2].name": problems.get("contracts[3].clauses[2].name"),
        "contracts[3].clauses[3].target": "must be greater than 0",
        "contracts[3].clauses[3].amends": "amends are not allowed on SLA success rate clauses",
        "contracts[3].portal.portal_projects": "'A B' is not a valid project key",
    }
    assert "duplicate" in problems["contracts[3].clauses[2].name"]


def test_validate_sla_target_none_means_default() -> None:
    c = _good()
    sla = dataclasses.replace(c.clauses[3], target=None)
    assert rules.validate_contract(dataclasses.replace(c, clauses=(sla,))) == []
    bad = dataclasses.replace(c.clauses[3], target=99.5, sla=())
    assert rules.validate_contract(dataclasses.replace(c, clauses=(bad,))) == [
        ("clauses[0].sla", "must name at least one SLA"),
        ("clauses[0].target", "must be a Decimal"),
    ]


def test_validate_zero_amend_and_untrimmed_name() -> None:
    c = _good()
    cl = list(c.clauses)
    cl[0] = dataclasses.replace(cl[0], amends=(Amend(dt.date(2025, 3, 1), AmendKind.CONSUMPTION, 0),))
    problems = rules.validate_contract(dataclasses.replace(c, name=" Acme", clauses=tuple(cl)))
    assert problems == [
        ("name", "must not start or end with spaces"),
        ("clauses[0].amends[0].value", "must not be 0"),
    ]


def test_contract_notes() -> None:
    assert rules.check_contract_notes("") is None
    assert rules.check_contract_notes("x" * rules.CONTRACT_NOTES_MAX) is None
    assert rules.check_contract_notes("x" * 10_001) == "must be at most 10,000 characters (got 10,001)"
    assert rules.check_contract_notes(None) == "must be a string"
    c = _good()
    assert rules.validate_contract(dataclasses.replace(c, notes="Renewal in Q4\n- ask about hours")) == []
    assert rules.validate_contract(dataclasses.replace(c, notes="x" * 10_001), "contracts[0]") == [
        ("contracts[0].notes", "must be at most 10,000 characters (got 10,001)"),
    ]
    assert rules.validate_contract(dataclasses.replace(c, notes=3)) == [("notes", "must be a string")]
