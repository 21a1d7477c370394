"""cache.measure on a hand-built cache (direct model inserts into a real SQLite file).

Expected figures are computed here independently: each issue's period from
its creation instant converted with zoneinfo to the contract's local date.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from tickets.model import Clause, ClauseType, Contract, PeriodType

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
_ids = itertools.count(1000)


@pytest.fixture
def db(db_url):
    """Both backends (PostgreSQL when TICKETBOOK_TEST_PG_URL is set)."""
    from cache.db import close_database, open_database

    database = open_database(db_url)
    yield database
    close_database()


def add_issue(created_utc: dt.datetime, *, worklogs=(), slas=(), project="ABC"):
    """An issue with worklogs ``[(seconds, started_utc)]`` and SLA cycles ``[(name, kind, breached)]``."""
    from cache.models import Issue, SlaCycle, Worklog

    iid = next(_ids)
    naive = created_utc.astimezone(UTC).replace(tzinfo=None)
    Issue.create(id=iid, key=f"{project}-{iid}", project_id="1", project_key=project, created=naive,
                 updated=naive, synced_at=naive)
    for seconds, started in worklogs:
        Worklog.create(id=next(_ids), issue=iid, started=started.astimezone(UTC).replace(tzinfo=None),
                       time_spent_seconds=seconds, updated=naive)
    for name, kind, breached in slas:
        SlaCycle.create(issue=iid, field_id="cf_" + name, sla_name=name, kind=kind, breached=breached)
    return iid


def match(clause_id: int, issue_ids) -> None:
    """Memberships as cache.membership writes them: with the facts computed from the source rows."""
    from cache.membership import _insert_ids, check_consistency

    _insert_ids(clause_id, issue_ids)
    assert check_consistency() == []


def stored(contract: Contract) -> tuple[int, dict[str, int]]:
    from cache.measure import clause_ids
    from cache.store import load_contract_with_revision, save_contract

    save_contract(contract)
    cid, _rev, loaded = load_contract_with_revision(contract.name)
    return cid, clause_ids(cid, loaded)


def test_dst_zone_boundaries_worklogs_after_period_and_outside_issues(db) -> None:
    from cache.measure import measure_contract
    from tickets.periods import contract_periods

    contract = Contract(
        name="NY", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), time_zone="America/New_York",
        period_type=PeriodType.MONTHLY_CALENDAR,
        clauses=(Clause("Count", ClauseType.ISSUE_COUNT, "project = ABC", limit=10),
                 Clause("Hours", ClauseType.SERVICE_HOURS, "project = ABC", limit=36000)))
    cid, ids = stored(contract)
    # local midnights of boundary days: EST (-5) in Mar/Dec/Jan, EDT (-4) in Apr/Nov
    boundaries = [dt.datetime(2025, m, 1, tzinfo=NY) for m in (3, 4, 11, 12)]
    boundaries += [dt.datetime(2025, 1, 1, tzinfo=NY), dt.datetime(2026, 1, 1, tzinfo=NY)]
    assert {b.utcoffset() for b in boundaries} == {dt.timedelta(hours=-5), dt.timedelta(hours=-4)}
    created = []
    for b in boundaries:
        for delta in (-60, -1, 0, 59):
            created.append(b + dt.timedelta(seconds=delta))
    # a naive "UTC midnight" reading would misplace these: 02:00Z on Apr 1 is still March in New York
    created.append(dt.datetime(2025, 4, 1, 2, 0, tzinfo=UTC))
    issue_ids = []
    expected_seconds: dict[int, int] = {}
    expected_count: dict[int, int] = {}
    for n, c in enumerate(created):
        wl = [(600 + n, c + dt.timedelta(hours=1)),  # logged the same day
              (3600 * (n % 3 + 1), c + dt.timedelta(days=75))]  # logged after the period ended
        issue_ids.append(add_issue(c, worklogs=wl))
        local = c.astimezone(NY).date()
        if local.year == 2025:  # else created outside the contract: counts nowhere
            k = local.month - 1
            expected_count[k] = expected_count.get(k, 0) + 1
            expected_seconds[k] = expected_seconds.get(k, 0) + sum(s for s, _ in wl)
    june = dt.datetime(2025, 6, 5, 12, tzinfo=UTC)
    unmatched = add_issue(june, worklogs=[(999, june)])  # in the cache, matched by no clause
    match(ids["Count"], issue_ids)
    match(ids["Hours"], issue_ids)
    periods = contract_periods(contract)
    got = measure_contract(cid, contract, periods)
    assert [m.issues for m in got["Count"]] == [expected_count.get(k, 0) for k in range(12)]
    assert [m.issues for m in got["Hours"]] == [expected_count.get(k, 0) for k in range(12)]
    assert [m.seconds for m in got["Hours"]] == [expected_seconds.get(k, 0) for k in range(12)]
    assert all(m.seconds == 0 for m in got["Count"])  # count clauses do not sum hours
    # two issues just before the start and two at/after the end count nowhere
    assert sum(m.issues for m in got["Count"]) == sum(expected_count.values()) == len(created) - 4
    assert unmatched not in issue_ids


def test_sla_fails_on_any_selected_breached_cycle(db) -> None:
    from cache.measure import measure_contract
    from tickets.periods import contract_periods

    contract = Contract(
        name="SLA", start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 28), time_zone="Europe/Istanbul",
        period_type=PeriodType.MONTHLY_CALENDAR,
        clauses=(Clause("Both", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("TTR", "TTFR")),
                 Clause("TTR only", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("TTR",))))
    cid, ids = stored(contract)
    jan = dt.datetime(2025, 1, 10, 9, tzinfo=UTC)
    feb = dt.datetime(2025, 2, 10, 9, tzinfo=UTC)
    cases = [
        # (created, cycles, fails "Both", fails "TTR only")
        (jan, [("TTR", "completed", True)], True, True),
        (jan, [("TTFR", "ongoing", True), ("TTR", "completed", False)], True, False),
        (jan, [("TTR", "completed", False), ("TTR", "ongoing", False)], False, False),
        (jan, [], False, False),  # SLA absent: cannot fail
        (jan, [("Other", "completed", True)], False, False),  # not a selected SLA
        (feb, [("TTR", "completed", False), ("TTR", "completed", True)], True, True),  # one of several cycles
        (feb, [("TTFR", "completed", True), ("TTR", "ongoing", True)], True, True),  # two reasons: once
    ]
    iids = [add_issue(c, slas=s) for c, s, _, _ in cases]
    match(ids["Both"], iids)
    match(ids["TTR only"], iids)
    got = measure_contract(cid, contract, contract_periods(contract))
    for name, col in (("Both", 2), ("TTR only", 3)):
        exp = [(sum(1 for c in cases if c[0] == m), sum(1 for c in cases if c[0] == m and c[col]))
               for m in (jan, feb)]
        assert [(m.issues, m.breached) for m in got[name]] == exp, name


def test_only_own_matches_count_and_unmatched_clause_is_zero(db) -> None:
    from cache.measure import measure_contract
    from tickets.periods import contract_periods

    contract = Contract(
        name="Two", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), time_zone="UTC",
        period_type=PeriodType.FIXED,
        clauses=(Clause("A", ClauseType.ISSUE_COUNT, "project = A", limit=1),
                 Clause("B", ClauseType.ISSUE_COUNT, "project = B", limit=None),
                 Clause("C", ClauseType.SERVICE_HOURS, "project = C", limit=None)))
    cid, ids = stored(contract)
    a = [add_issue(dt.datetime(2025, 5, d, tzinfo=UTC)) for d in (1, 2, 3)]
    b = [add_issue(dt.datetime(2025, 5, 4, tzinfo=UTC))]
    match(ids["A"], a)
    match(ids["B"], b + a[:1])
    got = measure_contract(cid, contract, contract_periods(contract))
    assert [m.issues for m in got["A"]] == [3]
    assert [m.issues for m in got["B"]] == [2]
    assert [(m.issues, m.seconds) for m in got["C"]] == [(0, 0)]


def test_exact_day_periods_in_a_gap_zone(db) -> None:
    """America/Havana: 2024-03-10 starts at 01:00 (midnight does not exist)."""
    from cache.measure import measure_contract
    from tickets.periods import contract_periods

    hav = ZoneInfo("America/Havana")
    contract = Contract(
        name="Havana", start=dt.date(2024, 2, 10), end=dt.date(2024, 4, 9), time_zone="America/Havana",
        period_type=PeriodType.MONTHLY_EXACT_DAY,
        clauses=(Clause("Count", ClauseType.ISSUE_COUNT, "project = ABC", limit=None),))
    cid, ids = stored(contract)
    # first instant of 2024-03-10: 00:00 CST would be 05:00Z, and the clock jumps to 01:00 CDT = 05:00Z
    boundary = dt.datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert boundary.astimezone(hav).replace(tzinfo=None) == dt.datetime(2024, 3, 10, 1, 0)
    before = boundary - dt.timedelta(seconds=1)
    assert before.astimezone(hav).date() == dt.date(2024, 3, 9)
    iids = [add_issue(before), add_issue(boundary), add_issue(boundary + dt.timedelta(seconds=30)),
            add_issue(dt.datetime(2024, 2, 10, 4, 59, tzinfo=UTC)),  # 23:59 on Feb 9 local: outside
            add_issue(dt.datetime(2024, 4, 10, 3, 59, tzinfo=UTC)),  # 23:59 on Apr 9 local (CDT): last period
            add_issue(dt.datetime(2024, 4, 10, 4, 0, tzinfo=UTC))]  # Apr 10 local: after the end
    match(ids["Count"], iids)
    got = measure_contract(cid, contract, contract_periods(contract))
    assert [m.issues for m in got["Count"]] == [1, 3]
