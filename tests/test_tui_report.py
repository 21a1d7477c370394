"""Report, summary, portal and issue screens, driven with the Textual pilot.

Data: the demo's dataset (the simulated Jira site, seeded, clock frozen)
synced over real HTTP into a real SQLite file, once per module; each test
works on its own copy.  Expected figures come from the rules engine through
``cache.reports.contract_report(..., carry_over=..., borrowing=...)`` (a
fresh build with those policies, not the screen's ``with_policies``),
formatted here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import shutil
from decimal import Decimal

import pytest

from cache.db import close_database, open_database
from tickets.model import ClauseType, seconds_to_hours
from tickets.report import QuotaRow, SlaRow, rate_percent

AS_OF = dt.date(2026, 6, 10)
ACME = "Acme Logistics - Monthly Support"
DASH = "—"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> pathlib.Path:
    from tui.demo import prepare_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("TICKETBOOK_JIRA_URL", "TICKETBOOK_JIRA_EMAIL", "TICKETBOOK_JIRA_TOKEN", "TICKETBOOK_CONFIG"):
            mp.setenv(var, "x")  # restored (removed) afterwards
        fj, result, _ = prepare_demo(path, issues=1500, seed=1, as_of=AS_OF)
        fj.stop()
    assert result.status == "ok" and result.issues_upserted > 200
    close_database()
    return path


@pytest.fixture
def db(template_db, tmp_path) -> pathlib.Path:
    path = tmp_path / "report.db"
    shutil.copy(template_db, path)
    open_database(path)
    yield path
    close_database()


def make_app(screen_factory):
    from tui.app import AppOptions, TicketBookApp

    class _App(TicketBookApp):
        def on_mount(self, event) -> None:
            event.prevent_default()  # no contract list: straight to the screen under test
            self.push_screen(screen_factory())

    return _App(AppOptions(as_of=AS_OF))


async def wait_for(pilot, cond, timeout: float = 20.0) -> None:
    steps = int(timeout / 0.05)
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


# --- expected cell text, computed from the engine's report -------------------------------


def fmt(t: ClauseType, units, signed=False) -> str:
    if units is None:
        return DASH
    text = f"{seconds_to_hours(units)}" if t is ClauseType.SERVICE_HOURS else str(units)
    return f"+{text}" if signed and units > 0 else text


def expected_cells(c, r) -> dict[str, str]:
    status = {"success": "ok", "fail": "FAIL"}
    t = c.clause.type
    if isinstance(r, SlaRow):
        target = c.clause.target if c.clause.target is not None else Decimal(100)
        if r.future:
            return {"issues": DASH, "rate": DASH, "status": DASH, "target": f"{target:.2f}%"}
        rate = rate_percent(r.rate)
        return {"issues": str(r.issues), "breached": str(r.breached),
                "rate": DASH if rate is None else f"{rate}%", "target": f"{target:.2f}%",
                "status": status[r.status]}
    assert isinstance(r, QuotaRow)
    if not c.clause.limited:
        return {"used": DASH if r.future else fmt(t, r.consumed + r.consumption_amends),
                "issues": DASH if r.future else str(r.issues)}
    out = {"limit": fmt(t, r.limit), "amends": fmt(t, r.limit_amends, signed=True)}
    if r.future:
        out.update({k: DASH for k in ("carried_in", "debt_in", "available", "used", "remaining", "over")})
        return out
    out.update({"carried_in": fmt(t, r.carried_in), "debt_in": fmt(t, r.debt_in),
                "available": fmt(t, r.limit_total + r.carried_in - r.debt_in),
                "used": fmt(t, r.consumed + r.consumption_amends), "remaining": fmt(t, r.remaining),
                "over": fmt(t, r.over), "status": status[r.status]})
    return out


def engine_report(name=ACME, **policies):
    from cache.reports import contract_report

    return contract_report(name, as_of=AS_OF, **policies)


def table_text(screen, i: int) -> dict[tuple[int, str], str]:
    from textual.widgets import DataTable

    table = screen.query_one(f"#table-{i}", DataTable)
    out = {}
    for row_key in table.rows:
        for col_key in table.columns:
            cell = table.get_cell(row_key, col_key)
            out[(int(row_key.value[1:]), col_key.value)] = getattr(cell, "plain", str(cell)).strip()
    return out


def assert_matches(screen, report) -> int:
    """Every cell of every valid clause equals the engine's figure; returns cells compared."""
    n = 0
    for i, c in enumerate(report.clauses):
        assert c.valid, c.error
        cells = table_text(screen, i)
        shown = {key for (_row, key) in cells}
        # Below 100 columns, Carry/Debt are shown only while their policy is on (always 0 otherwise),
        narrow = screen.app.size.width < 100
        hidden_ok = {"carried_in"} if narrow and not report.carry_over else set()
        hidden_ok |= {"debt_in"} if narrow and not report.borrowing else set()
        # ... and Amend only when a limit amend exists
        hidden_ok |= {"amends"} if narrow and not any(getattr(r, "limit_amends", 0) for r in c.rows) else set()
        for r in c.rows:
            for key, want in expected_cells(c, r).items():
                if key not in shown:
                    assert key in hidden_ok, (c.name, key, "missing column")
                    assert want in ("0", "0.00", DASH), (c.name, r.index, key, want)
                    continue
                assert cells[(r.index, key)] == want, (c.name, r.index, key)
                n += 1
    return n


async def open_report(pilot, name=ACME):
    app = pilot.app
    await wait_for(pilot, lambda: getattr(app.screen, "base", None) is not None)
    return app.screen


# --- tests ---------------------------------------------------------------------------------


async def test_report_shows_the_engine_figures(db):
    from tui.screens.report import ReportScreen

    app = make_app(lambda: ReportScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        expected = engine_report()
        assert [c.name for c in expected.clauses] == [c.name for c in screen.shown.clauses]
        assert assert_matches(screen, expected) > 100
        # the current period is marked, future periods are placeholders
        cells = table_text(screen, 0)
        cur = expected.current_period
        assert cur is not None and cur < len(expected.periods) - 1
        table = screen.query_one("#table-0")
        assert table.get_cell(f"p{cur}", "period").plain.startswith("▶")
        assert cells[(cur + 1, "available")] == DASH
        # types: hours with 2 decimals, SLA rate with %
        assert "." in table_text(screen, 1)[(0, "used")]
        assert table_text(screen, 3)[(0, "rate")].endswith("%")
        assert "as saved in the contract" in str(screen.query_one("#report-preview").render())


@pytest.mark.parametrize("keys,co,bo", [("c", True, False), ("b", False, True), ("cb", True, True)])
async def test_switches_recompute_at_once(db, keys, co, bo):
    from tui.screens.report import ReportScreen

    base = engine_report()
    want = engine_report(carry_over=co, borrowing=bo)
    changed = [(c.name, r.index) for cb, c in zip(base.clauses, want.clauses) for rb, r in zip(cb.rows, c.rows)
               if rb != r]
    assert changed, "the dataset must make this policy matter"
    app = make_app(lambda: ReportScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        from cache.db import database

        real = database.obj
        database.initialize(None)  # any database use now raises: the flip must not touch it
        try:
            for k in keys:
                await pilot.press(k)
            # no waiting for a worker: the cells changed in the key handlers themselves
            assert assert_matches(screen, want) > 100
        finally:
            database.initialize(real)
        assert "Preview — not saved" in str(screen.query_one("#report-preview").render())
        assert screen.query_one("#switch-carry-over").value is co
        assert screen.query_one("#switch-borrowing").value is bo
        for k in keys:  # back to the contract's own policies
            await pilot.press(k)
        assert_matches(screen, base)
        assert "as saved" in str(screen.query_one("#report-preview").render())


async def test_write_policies_and_conflict(db):
    from cache.store import load_contract, load_contract_with_revision, save_contract
    from tui.screens.report import ReportScreen

    app = make_app(lambda: ReportScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        await pilot.press("c", "w")
        await wait_for(pilot, lambda: load_contract(ACME).carry_over)
        await wait_for(pilot, lambda: "as saved" in str(screen.query_one("#report-preview").render()))
        assert load_contract(ACME).borrowing is False
        # someone else changes the contract: the next write is refused plainly
        _id, rev, k = load_contract_with_revision(ACME)
        save_contract(dataclasses.replace(k, borrowing=True), expected_revision=rev)
        await pilot.press("c", "w")
        await wait_for(pilot, lambda: "changed by someone else" in str(screen.query_one("#report-message").render()))
        stored = load_contract(ACME)
        assert (stored.carry_over, stored.borrowing) == (True, True)
        # reload picks up the stored policies
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.base is not None and screen.base.contract.borrowing)
        await wait_for(pilot, lambda: screen.query_one("#switch-borrowing").value is True)


async def test_drill_down_lists_the_period_issues(db):
    from cache.models import Issue, Worklog
    from cache.measure import naive_utc
    from tui.screens.report import PeriodIssuesScreen, ReportScreen

    report = engine_report()
    hours = report.clause("Service hours")
    cur = report.current_period
    period = report.periods[cur - 1]
    # independently: the clause is "project = SUP"; issues created in the period
    want = {i.key for i in Issue.select().where((Issue.project_key == "SUP")
                                                  & (Issue.created >= naive_utc(period.start_utc))
                                                  & (Issue.created < naive_utc(period.end_utc)))}
    assert len(want) == hours.rows[cur - 1].issues > 0
    app = make_app(lambda: ReportScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        await pilot.press("2")
        await pilot.pause(0.1)
        assert app.focused.id == "table-1"
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeriodIssuesScreen) and app.screen.rows is not None)
        rows = app.screen.rows
        assert {r["key"] for r in rows} == want
        total = sum(r["seconds"] for r in rows)
        assert total == hours.rows[cur - 1].consumed
        some = rows[0]
        secs = sum(w.time_spent_seconds for w in Worklog.select().join(Issue).where(Issue.key == some["key"]))
        assert some["seconds"] == secs
        await pilot.press("escape")
        # SLA clause: outcome per issue
        await pilot.press("4")
        await pilot.pause(0.1)
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeriodIssuesScreen) and app.screen.rows is not None)
        sla_row = report.clause("Resolution SLA").rows[cur - 1]
        assert sum(r["sla"] == "breached" for r in app.screen.rows) == sla_row.breached


async def test_export_writes_csv_and_json(db, tmp_path):
    from tickets.render import render_report_csv
    from tickets.report import report_to_json
    from tui.screens.report import ExportDialog, ReportScreen

    out = tmp_path / "out"
    out.mkdir()
    app = make_app(lambda: ReportScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        await pilot.press("b", "x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        inp = app.screen.query_one("Input")
        inp.value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Exported to" in str(screen.query_one("#report-message").render()))
        message = str(screen.query_one("#report-message").render())
    files = sorted(p.name for p in out.iterdir())
    assert files == ["Acme-Logistics-Monthly-Support.csv", "Acme-Logistics-Monthly-Support.json"]
    assert str(out / files[0]) in message
    want = engine_report(borrowing=True)
    assert json.loads((out / files[1]).read_text()) == json.loads(report_to_json(want))
    assert json.loads((out / files[1]).read_text())["contract"]["borrowing"] is True
    assert (out / files[0]).read_text() == render_report_csv(want)


async def test_every_demo_contract_renders(db):
    from cache.store import list_contracts
    from tui.screens.report import ReportScreen

    names = [r.name for r in list_contracts()]
    assert len(names) == 5
    for name in names:
        app = make_app(lambda: ReportScreen(name))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_report(pilot, name)
            assert_matches(screen, engine_report(name))


async def test_unknown_contract_is_one_line(db):
    from tui.screens.report import ReportScreen

    app = make_app(lambda: ReportScreen("No such contract"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "no contract named" in str(app.screen.query_one("#report-message").render()))


async def test_summary_screen(db):
    from tui.screens.summary import SummaryScreen

    report = engine_report()
    cur = report.current_period
    app = make_app(lambda: SummaryScreen(ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.summary is not None)
        table = app.screen.query_one("DataTable")
        rows = [[c.plain.strip() for c in table.get_row_at(i)] for i in range(table.row_count)]
    by_name = {r[0]: r for r in rows}
    hours = report.clause("Service hours").rows[cur]
    status = {"success": "ok", "fail": "FAIL"}
    assert by_name["Service hours"][1] == status[hours.status]
    assert by_name["Service hours"][2] == f"{seconds_to_hours(hours.available)} h"
    assert by_name["Service hours"][3] == f"{seconds_to_hours(hours.total_used)} h"
    assert by_name["Service hours"][4] == f"{seconds_to_hours(hours.remaining)} h"
    sla = report.clause("Resolution SLA").rows[cur]
    assert by_name["Resolution SLA"][5] == f"{rate_percent(sla.rate)}% vs 90.00% ({sla.breached} breached)"
    assert by_name["All tickets"][2] == "unlimited"


async def test_summary_screen_fits_80_columns(db):
    from tui.screens.summary import SummaryScreen

    sla = engine_report().clause("Resolution SLA").rows[engine_report().current_period]
    app = make_app(lambda: SummaryScreen(ACME))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.summary is not None)
        await pilot.pause(0.05)
        table = app.screen.query_one("DataTable")
        rows = {r[0]: r for r in ([c.plain.strip() for c in table.get_row_at(i)] for i in range(table.row_count))}
        assert rows["Resolution SLA"][5] == f"{rate_percent(sla.rate)}% vs 90.00%"
        info = str(app.screen.query_one("#summary-info").render())  # synced written as on the other screens
        synced = engine_report().synced_at
        assert f"synced {synced:%Y-%m-%d %H:%M} UTC" in info
        assert sum(col.get_render_width(table) for col in table.columns.values()) <= 80
        assert table.max_scroll_x == 0
        # wider again: the full headers and the breached count come back
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: any("breached" in table.get_row_at(i)[5].plain
                                          for i in range(table.row_count)))


async def test_portal_preview(db):
    from cache.models import Organization, OrganizationUser
    from tui.screens.portal import PortalPreviewScreen

    member = (OrganizationUser.select().join(Organization, on=(OrganizationUser.organization == Organization.id))
              .where(Organization.name == "Acme Logistics").first())
    assert member is not None
    app = make_app(lambda: PortalPreviewScreen(None))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.panels is not None)
        assert screen.panels == []  # anonymous: nothing
        assert "nothing" in str(screen.query_one("#portal-panel-text").render())
        await pilot.press(*member.account_id)
        await wait_for(pilot, lambda: screen.panels and screen.panels[0]["contract"] == ACME)
        assert ACME in str(screen.query_one("#portal-panel-text").render())
        # the SUP portal shows it too, the OPS portal does not
        screen.query_one("#portal-location").value = "OPS"
        await wait_for(pilot, lambda: "OPS portal" in str(screen.query_one("#portal-who").render())
                       and screen.panels == [])
        screen.query_one("#portal-location").value = "SUP"
        await wait_for(pilot, lambda: "SUP portal" in str(screen.query_one("#portal-who").render())
                       and [p["contract"] for p in screen.panels] == [ACME])
        # search text that is no account id: said so, not "what user acme sees"
        screen.query_one("#portal-user").value = "acme"
        await wait_for(pilot, lambda: "no synced account has that id" in str(screen.query_one("#portal-who").render()))
        assert screen.panels == []


async def test_issue_lookup_and_view(db):
    from cache.models import Issue
    from tui.screens.issue import IssueScreen

    key = Issue.select().where(Issue.project_key == "SUP").order_by(Issue.created.desc()).first().key

    from textual.screen import Screen

    app = make_app(lambda: Screen())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await pilot.pause(0.1)
        await pilot.press(*key.lower(), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen) and app.screen.view is not None)
        text = str(app.screen.query_one("#issue-body").render())
        assert key in text and ACME in text
        assert app.screen.view["issue"]["key"] == key


async def test_invalid_clause_shows_the_reason(db):
    from cache.store import import_contracts
    from tickets.model import Clause, ClauseType, Contract, PeriodType
    from tui.screens.report import ReportScreen

    import_contracts([Contract(
        name="Half valid", start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31), time_zone="UTC",
        period_type=PeriodType.MONTHLY_CALENDAR,
        clauses=(Clause("Bad", ClauseType.ISSUE_COUNT, "nosuchfield = 3", limit=3),
                 Clause("Good", ClauseType.ISSUE_COUNT, "project = SUP", limit=3)))])
    report = engine_report("Half valid")
    bad, good = report.clauses
    assert not bad.valid and good.valid
    app = make_app(lambda: ReportScreen("Half valid"))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        text = str(screen.query_one("#clause-0 .clause-error").render())
        assert text == f"Invalid clause: {bad.error}"
        assert not screen.query("#table-0")
        cells = table_text(screen, 1)
        for r in good.rows:
            for key, want in expected_cells(good, r).items():
                assert cells[(r.index, key)] == want
        await pilot.press("c")  # flipping with an invalid clause on screen works too
        want = engine_report("Half valid", carry_over=True).clauses[1]
        cells = table_text(screen, 1)
        for r in want.rows:
            for key, value in expected_cells(want, r).items():
                assert cells[(r.index, key)] == value

