"""Reports end to end: simulated Jira over real HTTP -> run_sync -> SQLite -> report JSON.

Every expected figure is computed here from the site's raw data (``site_to_dict``)
with plain Python: periods from date arithmetic and ``zoneinfo``, matching from
the issues' project / priority, worklog sums, SLA cycles, and a tiny ledger
written from domain.md's pseudo-code.  Nothing here calls the code under test
to get an expected value.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal

UTC = dt.timezone.utc
NOW = "2026-06-01T09:00:00+00:00"
AS_OF = dt.date(2026, 5, 20)
TTFR, TTR, TTCLOSE = "Time to first response", "Time to resolution", "Time to close after resolution"
SLA_FIELD = {TTFR: "customfield_10020", TTR: "customfield_10021", TTCLOSE: "customfield_10022"}
H = 3600

# --- contracts: every period type, several zones ---------------------------------------


def _clauses(count_limit: int, hours_limit: int, start: dt.date, mid: dt.date) -> tuple[Clause, ...]:
    before = start - dt.timedelta(days=40)
    return (
        Clause("Support tickets", ClauseType.ISSUE_COUNT, "project = SUP", limit=count_limit,
               amends=(Amend(mid, AmendKind.LIMIT, -1, "one ticket credited back"),
                       Amend(mid, AmendKind.CONSUMPTION, 2, "two phone calls"),
                       Amend(before, AmendKind.LIMIT, 5, "signed before the start"))),
        Clause("Service hours", ClauseType.SERVICE_HOURS, "project in (SUP, HD)", limit=hours_limit,
               amends=(Amend(mid, AmendKind.CONSUMPTION, -3 * H, "goodwill credit"),
                       Amend(start, AmendKind.LIMIT, 10 * H, "extra hours bought"),
                       Amend(dt.date(2030, 1, 1), AmendKind.CONSUMPTION, H, "far future: outside"))),
        Clause("Urgent tickets", ClauseType.ISSUE_COUNT, "priority >= High", limit=None),
        Clause("Ops hours", ClauseType.SERVICE_HOURS, "project = OPS", limit=None),
        Clause("Response SLAs", ClauseType.SLA_SUCCESS_RATE, "project in (SUP, HD, OPS)",
               sla=(TTFR, TTR), target=Decimal("80")),
        Clause("Resolution SLA", ClauseType.SLA_SUCCESS_RATE, "project = HD", sla=(TTR,)),
    )


CONTRACTS = [
    Contract("Istanbul monthly", dt.date(2025, 1, 15), dt.date(2026, 8, 14), "Europe/Istanbul",
             PeriodType.MONTHLY_CALENDAR, clauses=_clauses(3, 20 * H, dt.date(2025, 1, 15), dt.date(2025, 3, 5)),
             portal=Portal(help_center=True)),
    Contract("New York exact day", dt.date(2025, 1, 31), dt.date(2026, 7, 30), "America/New_York",
             PeriodType.MONTHLY_EXACT_DAY, clauses=_clauses(2, 15 * H, dt.date(2025, 1, 31), dt.date(2025, 4, 1))),
    Contract("Kolkata fixed", dt.date(2024, 6, 1), dt.date(2025, 5, 31), "Asia/Kolkata", PeriodType.FIXED,
             clauses=_clauses(40, 300 * H, dt.date(2024, 6, 1), dt.date(2024, 9, 9))),
    Contract("Istanbul annual", dt.date(2023, 9, 1), dt.date(2026, 8, 31), "Europe/Istanbul",
             PeriodType.ANNUAL_CALENDAR, clauses=_clauses(35, 250 * H, dt.date(2023, 9, 1), dt.date(2025, 2, 2))),
    Contract("Sydney annual exact", dt.date(2024, 2, 29), dt.date(2027, 2, 27), "Australia/Sydney",
             PeriodType.ANNUAL_EXACT_DAY, clauses=_clauses(40, 280 * H, dt.date(2024, 2, 29), dt.date(2025, 3, 1))),
]

# local midnights to put issues right next to (zone, local date)
BOUNDARIES = [
    ("Europe/Istanbul", dt.date(2025, 3, 1)),  # monthly calendar boundary, +03
    ("America/New_York", dt.date(2025, 3, 31)),  # exact-day boundary just after DST began (-04)
    ("America/New_York", dt.date(2025, 1, 31)),  # the contract start (-05)
    ("Asia/Kolkata", dt.date(2025, 6, 1)),  # the day after the fixed contract's end (+05:30)
    ("Europe/Istanbul", dt.date(2025, 1, 1)),  # annual calendar boundary
    ("Australia/Sydney", dt.date(2025, 2, 28)),  # annual exact day (Feb 29 clamped), +11 in summer
]
OFFSETS = (-59, -1, 0, 1, 59)  # seconds around the boundary


# --- the site, its mutations, the sync ------------------------------------------------------


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _build_site():
    from cache.fakejira import SlaValue, generate_site
    from cache.fakejira.model import SlaCycle

    site = generate_site(300, seed=7, now=NOW)
    projects = ["SUP", "HD", "OPS"]
    prios = ["High", "Low", "Critical", "Medium", "Highest"]
    sla_plans = [
        {TTR: SlaValue(completed=[SlaCycle(start=0, goal=1, elapsed=2, breached=True, stop=2)])},
        {TTFR: SlaValue(ongoing=SlaCycle(start=0, goal=1, elapsed=5, breached=True))},
        {TTFR: SlaValue(completed=[SlaCycle(start=0, goal=9, elapsed=2, breached=False, stop=2)]),
         TTR: SlaValue(ongoing=SlaCycle(start=0, goal=9, elapsed=1, breached=False))},
        {TTFR: None, TTR: None},  # the SLAs do not apply: cannot fail
        {TTFR: None, TTR: None, TTCLOSE: SlaValue(completed=[SlaCycle(start=0, goal=1, elapsed=3,
                                                                      breached=True, stop=3)])},
    ]
    n = 0
    for zone, day in BOUNDARIES:
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
        for off in OFFSETS:
            created = midnight + dt.timedelta(seconds=off)
            site.now = _ms(created)
            issue = site.create_issue(projects[n % 3], summary=f"boundary {zone} {day} {off:+d}s",
                                      priority=prios[n % len(prios)])
            # work logged long after the issue's (monthly) period ended
            site.now = _ms(created + dt.timedelta(days=45))
            site.add_worklog(issue.key, seconds=900 * (n % 5 + 1), started=_ms(created + dt.timedelta(days=44)))
            site.add_worklog(issue.key, seconds=1800, started=_ms(created + dt.timedelta(minutes=5)))
            for name, value in sla_plans[n % len(sla_plans)].items():
                site.set_sla(issue.key, name, value)
            n += 1
    site.now = NOW
    return site


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """The site, and a synced database with the contracts imported (module-scoped: one sync)."""
    from cache.db import close_database, open_database
    from cache.fakejira import FakeJira, site_to_dict
    from cache.jira import JiraClient
    from cache.store import import_contracts
    from cache.sync import run_sync

    site = _build_site()
    path = tmp_path_factory.mktemp("e2e") / "reports.db"
    db = open_database(path)
    with FakeJira(site) as fj:
        with JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
            result = run_sync(db, client)
    assert result.status == "ok"
    import_contracts(CONTRACTS)
    yield {"site": site, "raw": site_to_dict(site), "db": db, "path": path}
    close_database()


# --- independent expectations -------------------------------------------------------------------


def _add_months(d: dt.date, k: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + k, 12)
    return dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _add_years(d: dt.date, k: int) -> dt.date:
    y = d.year + k
    return dt.date(y, 2, 28) if (d.month, d.day) == (2, 29) and not calendar.isleap(y) else d.replace(year=y)


def expected_periods(c: Contract) -> list[tuple[dt.date, dt.date]]:
    t = c.period_type
    if t is PeriodType.FIXED:
        starts = [c.start]
    elif t is PeriodType.MONTHLY_CALENDAR:
        starts = [c.start]
        d = dt.date(c.start.year, c.start.month, 1)
        while True:
            d = _add_months(d, 1)
            if d > c.end:
                break
            starts.append(d)
    elif t is PeriodType.ANNUAL_CALENDAR:
        starts = [c.start] + [dt.date(y, 1, 1) for y in range(c.start.year + 1, c.end.year + 1)]
    else:
        step = _add_months if t is PeriodType.MONTHLY_EXACT_DAY else _add_years
        starts, k = [], 0
        while step(c.start, k) <= c.end:
            starts.append(step(c.start, k))
            k += 1
    ends = [s - dt.timedelta(days=1) for s in starts[1:]] + [c.end]
    return list(zip(starts, ends))


def _local_midnight_utc(d: dt.date, zone: str) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def site_issues(raw: dict) -> list[dict]:
    """The synced issues (service-desk projects) with what the clauses need."""
    desk_projects = {sd["projectId"] for sd in raw["serviceDesks"]}
    keys = {p["id"]: p["key"] for p in raw["projects"]}
    rank = {p["id"]: i for i, p in enumerate(raw["priorities"])}  # Jira's order, most urgent first
    high = next(i for i, p in enumerate(raw["priorities"]) if p["name"] == "High")
    secs: dict[int, int] = {}
    for w in raw["worklogs"]:
        secs[w["issueId"]] = secs.get(w["issueId"], 0) + w["timeSpentSeconds"]
    out = []
    for i in raw["issues"]:
        if i["projectId"] not in desk_projects:
            continue
        failed = set()
        for name, fid in SLA_FIELD.items():
            v = (i.get("sla") or {}).get(fid)
            if v is None:
                continue
            cycles = list(v["completedCycles"]) + ([v["ongoingCycle"]] if v["ongoingCycle"] else [])
            if any(c["breached"] for c in cycles):
                failed.add(name)
        out.append({
            "id": i["id"], "project": keys[i["projectId"]], "urgent": rank[i["priorityId"]] <= high,
            "created": dt.datetime.fromtimestamp(i["created"] / 1000, UTC),
            "seconds": secs.get(i["id"], 0), "failed": failed,
        })
    return out


def _matches(clause: Clause, issue: dict) -> bool:
    j = clause.jql
    if j == "priority >= High":
        return issue["urgent"]
    if j.startswith("project in ("):
        return issue["project"] in [p.strip() for p in j[len("project in ("):-1].split(",")]
    assert j.startswith("project = ")
    return issue["project"] == j[len("project = "):]


def ledger(limit, lam, cons, cam, carry_over, borrowing):
    """domain.md's pseudo-code, verbatim."""
    totals = [limit + a for a in lam]
    b, rows = 0, []
    for i in range(len(totals)):
        limit_total = totals[i]
        carried_in, debt_in = max(b, 0), max(-b, 0)
        available = limit_total + b
        total_used = cons[i] + cam[i]
        remaining = available - total_used
        if remaining >= 0:
            over, debt_out = 0, 0
            carried_out = remaining if carry_over else 0
        elif borrowing:
            future = sum(totals[i + 1:])
            debt_out = min(-remaining, future)
            over = -remaining - debt_out
            carried_out = 0
        else:
            over, debt_out, carried_out = -remaining, 0, 0
        b = carried_out - debt_out
        rows.append(dict(limit=limit, limit_amends=lam[i], carried_in=carried_in, debt_in=debt_in,
                         available=available, consumed=cons[i], consumption_amends=cam[i],
                         total_used=total_used, remaining=remaining, carried_out=carried_out,
                         debt_out=debt_out, over=over, status="fail" if over > 0 else "success"))
    return rows


def _hours(seconds):
    if seconds is None:
        return None
    h = (Decimal(seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(h) if h == h.to_integral_value() else float(h)


def _pct(fr: Fraction):
    q = (Decimal(fr.numerator) * 100 / Decimal(fr.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(q) if q == q.to_integral_value() else float(q)


def expected_report(c: Contract, issues: list[dict], carry_over: bool, borrowing: bool) -> dict:
    dates = expected_periods(c)
    bounds = [_local_midnight_utc(s, c.time_zone) for s, _ in dates]
    bounds.append(_local_midnight_utc(c.end + dt.timedelta(days=1), c.time_zone))
    n = len(dates)

    def period_of(t: dt.datetime):
        if t < bounds[0] or t >= bounds[-1]:
            return None
        return bisect.bisect_right(bounds, t) - 1

    def period_of_date(d: dt.date):
        return next((k for k, (s, e) in enumerate(dates) if s <= d <= e), None)

    current = None if AS_OF < c.start else (n - 1 if AS_OF > c.end else period_of_date(AS_OF))
    clauses = []
    for cl in c.clauses:
        count, secs, bad = [0] * n, [0] * n, [0] * n
        for i in issues:
            k = period_of(i["created"])
            if k is None or not _matches(cl, i):
                continue
            count[k] += 1
            secs[k] += i["seconds"]
            bad[k] += bool(i["failed"] & set(cl.sla))
        d = {"name": cl.name, "type": cl.type.value, "jql": cl.jql, "valid": True, "error": None}
        if cl.type is ClauseType.SLA_SUCCESS_RATE:
            target = cl.target if cl.target is not None else Decimal(100)
            d["sla"], d["target"] = list(cl.sla), int(target) if target == int(target) else float(target)
            rows = []
            for k in range(n):
                rate = None if count[k] == 0 else Fraction(count[k] - bad[k], count[k])
                ok = rate is None or rate * 100 >= Fraction(target)
                rows.append({"index": k, "issues": count[k], "breached": bad[k],
                             "rate": None if rate is None else _pct(rate), "status": "success" if ok else "fail"})
            d["periods"] = rows
        else:
            hours = cl.type is ClauseType.SERVICE_HOURS
            conv = _hours if hours else (lambda v: v)
            consumed = secs if hours else count
            lam, cam, notes = [0] * n, [0] * n, [[] for _ in range(n)]
            for a in sorted(cl.amends, key=lambda a: a.date):  # notes in date order
                k = period_of_date(a.date)
                if k is None:
                    continue
                (lam if a.kind is AmendKind.LIMIT else cam)[k] += a.value
                notes[k].append(a.notes)
            d["limited"], d["limit"] = cl.limit is not None, conv(cl.limit)
            rows = []
            if cl.limit is None:
                for k in range(n):
                    r = dict.fromkeys(("limit", "limit_amends", "carried_in", "debt_in", "available", "remaining",
                                       "carried_out", "debt_out", "over"))
                    r.update(consumed=conv(consumed[k]), consumption_amends=conv(cam[k]),
                             total_used=conv(consumed[k] + cam[k]), status="success")
                    rows.append(r)
            else:
                rows = [{key: (conv(v) if key != "status" else v) for key, v in r.items()}
                        for r in ledger(cl.limit, lam, consumed, cam, carry_over, borrowing)]
            for k, r in enumerate(rows):
                r["index"], r["issues"], r["notes"] = k, count[k], notes[k]
            d["periods"] = rows
        clauses.append(d)
    return {
        "contract": {"name": c.name, "start": c.start.isoformat(), "end": c.end.isoformat(),
                     "time_zone": c.time_zone, "period_type": c.period_type.value,
                     "carry_over": carry_over, "borrowing": borrowing},
        "as_of": AS_OF.isoformat(),
        "periods": [{"index": k, "start": s.isoformat(), "end": e.isoformat()} for k, (s, e) in enumerate(dates)],
        "current_period": current,
        "clauses": clauses,
    }


def _project(actual: dict, expected: dict) -> dict:
    """``actual`` restricted to the keys ``expected`` has (the JSON may carry documented extensions)."""
    if isinstance(expected, dict):
        return {k: _project(actual.get(k, "<missing>"), v) for k, v in expected.items()} \
            if isinstance(actual, dict) else actual
    if isinstance(expected, list) and isinstance(actual, list) and len(actual) == len(expected):
        return [_project(a, e) for a, e in zip(actual, expected)]
    return actual


def _diffs(actual, expected, path="$") -> list[str]:
    """Readable differences (first few) for assertion messages."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [d for k in expected for d in _diffs(actual.get(k, "<missing>"), expected[k], f"{path}.{k}")][:12]
    if isinstance(expected, list) and isinstance(actual, list) and len(actual) == len(expected):
        return [d for i, (a, e) in enumerate(zip(actual, expected)) for d in _diffs(a, e, f"{path}[{i}]")][:12]
    return [] if actual == expected else [f"{path}: got {actual!r}, expected {expected!r}"]


# --- tests ----------------------------------------------------------------------------------------


def test_boundary_issues_exist_and_the_cache_holds_them(synced) -> None:
    from cache.models import Issue, SlaCycle

    boundary = [i for i in synced["raw"]["issues"] if i["summary"].startswith("boundary ")]
    assert len(boundary) == len(BOUNDARIES) * len(OFFSETS)
    assert Issue.select().where(Issue.summary.startswith("boundary ")).count() == len(boundary)
    assert SlaCycle.select().where((SlaCycle.kind == "ongoing") & (SlaCycle.breached == True)).count() > 0  # noqa: E712


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.period_type.value)
@pytest.mark.parametrize("carry_over,borrowing", [(False, False), (True, False), (False, True), (True, True)])
def test_report_json_equals_independent_figures(synced, contract, carry_over, borrowing) -> None:
    from cache.reports import contract_report
    from tickets.report import report_to_json_dict

    issues = site_issues(synced["raw"])
    expected = expected_report(contract, issues, carry_over, borrowing)
    report = contract_report(contract.name, as_of=AS_OF, carry_over=carry_over, borrowing=borrowing)
    actual = report_to_json_dict(report)
    assert actual["synced_at"] is not None
    assert not _diffs(actual, expected), _diffs(actual, expected)
    assert _project(actual, expected) == expected
    # the data exercise what they should: something counted, SLA failures, and (monthly) over-consumption
    figures = [r for cl in expected["clauses"] for r in cl["periods"]]
    assert sum(r["issues"] for r in figures) > 0
    assert any(r.get("breached") for r in figures)
    if contract.period_type is PeriodType.MONTHLY_CALENDAR and not (carry_over and borrowing):
        assert any(r.get("over") for r in figures)


def test_policy_previews_differ_and_boundary_issues_land_in_the_right_period(synced) -> None:
    """Sanity on the fixture itself: the policies matter and the boundary issues split as intended."""
    c = CONTRACTS[0]
    issues = site_issues(synced["raw"])
    none, both = expected_report(c, issues, False, False), expected_report(c, issues, True, True)
    assert none != both
    # Istanbul 2025-03-01 boundary: 2 issues before (February = period 1), 3 at/after (March = period 2)
    boundary = [i for i in synced["raw"]["issues"] if i["summary"].startswith("boundary Europe/Istanbul 2025-03-01")]
    months = sorted(dt.datetime.fromtimestamp(i["created"] / 1000, ZoneInfo("Europe/Istanbul")).month
                    for i in boundary)
    assert months == [2, 2, 3, 3, 3]


def test_issue_view_for_a_boundary_issue(synced) -> None:
    from cache.reports import issue_view

    raw = synced["raw"]
    issue = next(i for i in raw["issues"] if i["summary"] == "boundary Europe/Istanbul 2025-03-01 +0s")
    key = issue["key"]
    view = issue_view(key, AS_OF)
    assert view["issue"]["key"] == key
    secs = sum(w["timeSpentSeconds"] for w in raw["worklogs"] if w["issueId"] == issue["id"])
    assert view["issue"]["hours"] == _hours(secs)
    monthly = next(k for k in view["contracts"] if k["name"] == "Istanbul monthly")
    assert monthly["period"] == {"index": 2, "start": "2025-03-01", "end": "2025-03-31", "count": 20}
    proj = next(p["key"] for p in raw["projects"] if p["id"] == issue["projectId"])
    by_name = {c["name"]: c for c in monthly["clauses"]}
    assert by_name["Support tickets"]["match"] is (proj == "SUP")
    assert by_name["Service hours"]["match"] is (proj in ("SUP", "HD"))
    assert by_name["Ops hours"]["match"] is (proj == "OPS")
    kolkata = next(k for k in view["contracts"] if k["name"] == "Kolkata fixed")
    assert kolkata["period"] == {"index": 0, "start": "2024-06-01", "end": "2025-05-31", "count": 1}
    # one second after the fixed contract's last local day: counts nowhere there
    late = next(i for i in raw["issues"] if i["summary"] == "boundary Asia/Kolkata 2025-06-01 +0s")
    view = issue_view(late["key"], AS_OF)
    kolkata = next(k for k in view["contracts"] if k["name"] == "Kolkata fixed")
    assert kolkata["period"] is None and not any(c["counts"] for c in kolkata["clauses"])
    early = next(i for i in raw["issues"] if i["summary"] == "boundary Asia/Kolkata 2025-06-01 -1s")
    kolkata = next(k for k in issue_view(early["key"], AS_OF)["contracts"] if k["name"] == "Kolkata fixed")
    assert kolkata["period"]["index"] == 0


def test_issue_view_unknown_key(synced) -> None:
    from cache.reports import issue_view
    from tickets.errors import InputError

    with pytest.raises(InputError, match="NOPE-1"):
        issue_view("NOPE-1", AS_OF)


def test_report_follows_an_incremental_sync(tmp_path) -> None:
    """New, changed, moved and deleted issues reach the report through the next (incremental) sync."""
    from cache.db import close_database, open_database
    from cache.fakejira import FakeJira, site_to_dict
    from cache.jira import JiraClient
    from cache.reports import contract_report
    from cache.store import import_contracts
    from cache.sync import run_sync
    from tickets.report import report_to_json_dict

    contract = CONTRACTS[0]
    site = _build_site()
    db = open_database(tmp_path / "incremental.db")
    try:
        with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
            assert run_sync(db, client).status == "ok"
            import_contracts([contract])
            before = report_to_json_dict(contract_report(contract.name, as_of=AS_OF))
            assert not _diffs(before, expected_report(contract, site_issues(site_to_dict(site)), False, False))
            # changes an hour after the site's "now" (Jira's clock only moves forward)
            site.now = _ms(dt.datetime.fromisoformat(NOW) + dt.timedelta(hours=1))
            raw = site_to_dict(site)
            in_contract = [i for i in raw["issues"] if i["created"] >= _ms(dt.datetime(2025, 2, 1, tzinfo=UTC))
                           and i["created"] < _ms(dt.datetime(2026, 5, 1, tzinfo=UTC))]
            sup = [i for i in in_contract if i["projectId"] == 10000]
            hd = [i for i in in_contract if i["projectId"] == 10001]
            site.create_issue("SUP", summary="new after the first sync", priority="Highest")
            site.create_issue("HD", summary="another new one")
            site.add_worklog(sup[0]["key"], seconds=7 * 3600, started=_ms(dt.datetime(2026, 5, 31, tzinfo=UTC)))
            site.move_issue(sup[1]["key"], "OPS")
            site.delete_issue(hd[0]["key"])
            site.advance(60)
            assert run_sync(db, client).status == "ok"
        afters = {}
        for co, bo in [(False, False), (True, True)]:
            after = report_to_json_dict(contract_report(contract.name, as_of=AS_OF, carry_over=co, borrowing=bo))
            expected = expected_report(contract, site_issues(site_to_dict(site)), co, bo)
            assert not _diffs(after, expected), _diffs(after, expected)
            afters[co, bo] = after
        assert afters[False, False]["clauses"] != before["clauses"]  # the changes did move figures
    finally:
        close_database()
