"""QA polish of the TUI, driven with the Textual pilot.

Data: the small seeded database of ``test_tui_editor`` (first run, contract
list, amends) and the demo's dataset of ``test_tui_report`` (report, portal,
export) on their own copies; the sync screen against the simulated Jira of
``test_tui_sync``.
"""

from __future__ import annotations

import pytest

import test_tui_editor as ed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- 1. first run: the connection screen over the list -----------------------------------------


def first_run_app():
    from tui.app import AppOptions, TicketBookApp

    return TicketBookApp(AppOptions(as_of=ed.AS_OF, first_run_check=True))


async def test_first_run_without_settings_shows_the_connection_screen(tmp_path):
    from cache.db import close_database, open_database
    from tui.screens.connect import ConnectScreen
    from tui.screens.contracts import ContractListScreen

    ed.seed(tmp_path / "first.db")  # no TICKETBOOK_JIRA_* (conftest) and no config file
    try:
        app = first_run_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await ed.wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen))
            assert isinstance(app.screen_stack[-2], ContractListScreen)
            await pilot.press("escape")
            await ed.wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen))
    finally:
        close_database()


async def test_configured_or_demo_opens_the_list(tmp_path, monkeypatch):
    from cache.db import close_database
    from tui.app import AppOptions, TicketBookApp
    from tui.screens.contracts import ContractListScreen

    ed.seed(tmp_path / "conf.db")
    try:
        # the demo never asks, even without settings
        app = TicketBookApp(AppOptions(as_of=ed.AS_OF, first_run_check=True, demo=True))
        async with app.run_test(size=(100, 30)) as pilot:
            await ed.wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen) and app.screen.loaded)
            await pilot.pause(0.3)
            assert isinstance(app.screen, ContractListScreen)
        monkeypatch.setenv("TICKETBOOK_JIRA_URL", "https://example.atlassian.net")
        monkeypatch.setenv("TICKETBOOK_JIRA_EMAIL", "lead@example.com")
        monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", "secret-token")
        app = first_run_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await ed.wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen) and app.screen.loaded)
            await pilot.pause(0.3)
            assert isinstance(app.screen, ContractListScreen)
    finally:
        close_database()


# --- the demo dataset (report, export, portal) ------------------------------------------------

from test_tui_report import template_db  # noqa: E402,F401 (module fixture: the demo synced once)


@pytest.fixture
def demo_db(template_db, tmp_path):  # noqa: F811
    import shutil

    from cache.db import close_database, open_database

    path = tmp_path / "polish.db"
    shutil.copy(template_db, path)
    open_database(path)
    yield path
    close_database()


# --- 2. the report's Status column stays on screen ---------------------------------------------


@pytest.mark.parametrize("policies", [False, True], ids=["policies-off", "policies-on"])
@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
async def test_report_status_column_fits(demo_db, size, policies):
    from textual.widgets import DataTable, Switch

    import test_tui_report as tr
    from cache.store import list_contracts
    from tui.screens.report import ReportScreen

    names = [c.name for c in list_contracts()]
    assert len(names) == 5
    for name in names:
        app = tr.make_app(lambda: ReportScreen(name))
        async with app.run_test(size=size) as pilot:
            screen = await tr.open_report(pilot, name)
            screen.query_one("#switch-carry-over", Switch).value = policies
            screen.query_one("#switch-borrowing", Switch).value = policies
            await tr.wait_for(pilot, lambda: screen.shown is not None and screen.shown.carry_over is policies
                              and screen.shown.borrowing is policies)
            for i, c in enumerate(screen.shown.clauses):
                await pilot.press(str(i + 1))
                await tr.wait_for(pilot, lambda: bool(screen.query(f"#table-{i}"))
                                  and screen.query_one(f"#table-{i}", DataTable).region.width > 0)
                await pilot.pause(0.05)
                table = screen.query_one(f"#table-{i}", DataTable)
                labels = [str(col.label).strip() for col in table.columns.values()]
                assert labels[-1] == "Status", (name, c.name, labels)
                if not policies:
                    assert "Carry" not in labels and "Debt" not in labels or size[0] >= 100
                elif c.type.has_quota and c.limited:  # every ledger column, Status still on screen
                    assert {"Carry", "Debt"} <= set(labels) or size[0] >= 100, labels
                assert ("Avail" in labels) == (c.type.has_quota and c.limited), (name, c.name, labels)
                width = sum(col.get_render_width(table) for col in table.columns.values())
                assert width <= table.scrollable_content_region.width, (name, c.name, size, width)
                assert table.max_scroll_x == 0, (name, c.name, size)


# --- 3. export to a directory path ---------------------------------------------------------------


async def test_export_to_a_directory_path(demo_db, tmp_path):
    import test_tui_report as tr
    from tui.screens.report import ExportDialog, ReportScreen

    stem = "Acme-Logistics-Monthly-Support"
    new_dir = tmp_path / "x" / "newdir"
    existing = tmp_path / "existing"
    existing.mkdir()
    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await tr.open_report(pilot)
        await pilot.press("x")
        await tr.wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("Input").value = str(new_dir) + "/"  # ends with a separator: a new directory
        await pilot.press("enter")
        await tr.wait_for(pilot, lambda: "Exported to" in str(screen.query_one("#report-message").render()))
        assert sorted(p.name for p in new_dir.iterdir()) == [f"{stem}.csv", f"{stem}.json"]
        assert not (tmp_path / "x" / "newdir.csv").exists()
        # an existing directory, without the separator
        assert screen.export_to(str(existing)) == (existing / f"{stem}.csv", existing / f"{stem}.json")
        # a path that is not a directory stays the files' stem
        assert screen.export_to(str(tmp_path / "out" / "march.csv")) == (tmp_path / "out" / "march.csv",
                                                                          tmp_path / "out" / "march.json")
    assert sorted(p.name for p in existing.iterdir()) == [f"{stem}.csv", f"{stem}.json"]


async def test_export_asks_before_overwriting(demo_db, tmp_path):
    """Existing files are never replaced silently: the first Enter says which, the second overwrites."""
    import test_tui_report as tr
    from tui.screens.report import ExportDialog, ReportScreen

    stem = "Acme-Logistics-Monthly-Support"
    (tmp_path / f"{stem}.csv").write_text("keep me", encoding="utf-8")
    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await tr.open_report(pilot)
        await pilot.press("x")
        await tr.wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        dialog = app.screen
        dialog.query_one("Input").value = str(tmp_path)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is dialog
        assert f"{stem}.csv already exists" in str(dialog.query_one("#export-hint").render())
        assert (tmp_path / f"{stem}.csv").read_text(encoding="utf-8") == "keep me"
        assert not (tmp_path / f"{stem}.json").exists()
        # another path with no files there: written at once
        dialog.query_one("Input").value = str(tmp_path / "fresh")
        await pilot.press("enter")
        await tr.wait_for(pilot, lambda: "Exported to" in str(screen.query_one("#report-message").render()))
        assert (tmp_path / "fresh.csv").exists()
        # again into the first directory: Enter twice overwrites
        await pilot.press("x")
        await tr.wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("Input").value = str(tmp_path)
        await pilot.press("enter")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await tr.wait_for(pilot, lambda: not isinstance(app.screen, ExportDialog))
        await pilot.pause(0.1)
    assert (tmp_path / f"{stem}.csv").read_text(encoding="utf-8").startswith("clause,")


async def test_export_to_an_impossible_path_says_why(demo_db, tmp_path):
    """A path the OS refuses (here a NUL byte) is one error line; the app goes on."""
    import test_tui_report as tr
    from tui.screens.report import ExportDialog, ReportScreen

    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await tr.open_report(pilot)
        await pilot.press("x")
        await tr.wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("Input").value = str(tmp_path / "out" / "bad\x00name")
        await pilot.press("enter")
        await tr.wait_for(pilot, lambda: "Export failed" in str(screen.query_one("#report-message").render()))
        assert app.is_running and not list(tmp_path.glob("**/*.csv")) and not list(tmp_path.glob("**/*.json"))


# --- 4. the contract list's Status column gets the rest of the width ------------------------------


@pytest.mark.parametrize("size", [(130, 30), (100, 30), (80, 24)], ids=["130x30", "100x30", "80x24"])
async def test_contract_list_status_gets_the_room(demo_db, size):
    from textual.widgets import DataTable

    import test_tui_report as tr
    from cache.reports import current_status
    from tui.screens.contracts import ContractListScreen

    app = tr.make_app(ContractListScreen)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        await tr.wait_for(pilot, lambda: screen.statuses_done)
        await pilot.pause(0.1)
        table = screen.query_one("#contracts", DataTable)
        status_col = table.columns[next(k for k in table.columns if k.value == "status")]
        statuses = [str(table.get_cell(k, "status")) for k in table.rows]
        assert statuses == [current_status(str(k.value), tr.AS_OF) for k in table.rows]  # whole text kept
        assert "over: First response SLA" in statuses
        total = sum(c.get_render_width(table) for c in table.columns.values())
        assert total <= table.scrollable_content_region.width and table.max_scroll_x == 0
        if size[0] >= 100:
            assert status_col.width >= len("over: First response SLA")
        else:
            assert status_col.width >= len("at risk")
        name_col = table.columns[next(k for k in table.columns if k.value == "name")]
        longest = max(len(str(k.value)) for k in table.rows)
        assert name_col.width >= (longest if size[0] >= 130 else 24)  # whole names when there is room


# --- 5. the portal preview starts where the contract shows a panel --------------------------------


async def test_portal_preview_starts_at_the_contracts_portal(demo_db):
    from textual.widgets import Select

    import test_tui_report as tr
    from cache.store import load_contract
    from tui.screens.portal import HELP_CENTER, PortalPreviewScreen

    bank = "Bosphorus Bank - Annual Hours"
    portal = load_contract(bank).portal
    assert not portal.help_center and portal.portal_projects == ("HD",)
    for name, want, where in ((bank, "HD", "HD portal"), (tr.ACME, HELP_CENTER, "Help Center")):
        app = tr.make_app(lambda: PortalPreviewScreen(name))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            await tr.wait_for(pilot, lambda: screen.query_one("#portal-location", Select).value == want
                              and where in str(screen.query_one("#portal-who").render()))
            await pilot.pause(0.3)  # stays there
            assert screen.query_one("#portal-location", Select).value == want
            assert where in str(screen.query_one("#portal-who").render())


# --- 6. the sync screen after a sync ended ------------------------------------------------------------

from test_tui_sync import db, jira, site  # noqa: E402,F401 (fixtures: a SQLite file, the simulated Jira)


def footer_actions(screen) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values() if b.enabled and b.binding.show}


async def test_sync_screen_after_cancel_keeps_the_bar_and_hides_cancel(db, jira):
    import test_tui_sync as ts
    from cache.fakejira import Faults
    from textual.widgets import ProgressBar, Static
    from tui.screens.sync import SyncScreen, sync_controller

    jira.faults = Faults(1.0, kinds=("slow",), delay=0.1)
    app = ts.make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await ts.wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        screen, ctl = app.screen, sync_controller(app)
        assert {"hide", "cancel_sync"} <= footer_actions(screen)
        assert not {"close", "start_sync", "full_sync"} & footer_actions(screen)
        await ts.wait_for(pilot, lambda: ctl.state.stage == "issues" and ctl.state.total and ctl.state.done > 0)
        await pilot.press("c")
        await ts.wait_for(pilot, lambda: not ctl.running)
        await pilot.pause(0.1)
        s = ctl.state
        assert s.status == "cancelled" and s.done > 0
        bar = screen.query_one("#sync-bar", ProgressBar)
        assert bar.percentage == pytest.approx(s.done / max(s.total, s.done)) and bar.percentage > 0
        message = str(screen.query_one("#sync-message", Static).render())
        assert message.startswith(f"sync cancelled at issues ({s.done} of ~{s.total})"), message
        assert str(screen.query_one("#sync-stage", Static).render()).startswith("Cancelled")
        assert {"close", "start_sync", "full_sync"} <= footer_actions(screen)
        assert not {"hide", "cancel_sync"} & footer_actions(screen)
        await pilot.press("c")  # no sync: nothing to cancel, nothing happens
        await pilot.press("escape")  # closes
        await ts.wait_for(pilot, lambda: app.screen is app.home)


async def test_sync_screen_after_a_failure_says_so(db, jira, monkeypatch):
    import test_tui_sync as ts
    from textual.widgets import Static
    from tui.screens.sync import SyncScreen, sync_controller

    monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", "wrong-token-Zx81-secret")
    app = ts.make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await ts.wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await ts.wait_for(pilot, lambda: ctl.state.status is not None)
        await pilot.pause(0.1)
        screen = app.screen
        assert ctl.state.status == "failed"
        message = str(screen.query_one("#sync-message", Static).render())
        assert "starting" not in message and message.startswith("sync failed"), message
        assert str(screen.query_one("#sync-error", Static).render()).startswith("Error: ")
        assert "cancel_sync" not in footer_actions(screen) and "start_sync" in footer_actions(screen)


# --- 7. the amend dialog's "Not saved" message goes once the value changes ------------------------


async def test_amend_dialog_message_clears_on_change(tmp_path):
    from textual.widgets import Input

    from cache.db import close_database
    from cache.store import load_contract
    from tickets.periods import contract_periods
    from tui.screens.amends import AmendDialog

    ed.seed(tmp_path / "amend.db")
    try:
        contract = load_contract(ed.ACME)
        clause = next(c for c in contract.clauses if c.limit is not None)
        app = ed.make_app(lambda: AmendDialog(clause, contract_periods(contract)))
        async with app.run_test(size=(100, 30)) as pilot:
            await ed.wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
            dialog = app.screen
            await pilot.press("ctrl+s")  # empty value
            assert ed.text_of(dialog, "#amend-messages").startswith("Not saved: ")
            assert dialog.query_one("#amend-messages").has_class("error")
            await pilot.press("5")
            await pilot.pause(0.05)
            assert ed.text_of(dialog, "#amend-messages") == ""
            assert not dialog.query_one("#amend-messages").has_class("error")
            assert dialog.query_one("#amend-value", Input).value == "5"
    finally:
        close_database()


# --- 8. "1 issue", not "1 issues" -------------------------------------------------------------------


def test_counts_agree_with_their_noun():
    from tickets.render import count_text, render_panel_text
    from tui.screens.summary import summary_rows

    assert [count_text(n) for n in (0, 1, 2)] == ["0 issues", "1 issue", "2 issues"]
    assert count_text(1, "panel") == "1 panel"
    sla = {"name": "Resolution SLA", "status": "success", "valid": True, "period": 0, "rate": "100.00",
           "target": "90.00", "issues": 1, "breached": 0}
    summary = {"contract": "Acme", "period": {"index": 0, "count": 12, "start": "2026-06-01", "end": "2026-06-30"},
               "as_of": "2026-06-10", "synced_at": None, "clauses": [sla]}
    text = render_panel_text([summary])
    assert "(1 issue, 0 breached)" in text and "1 issues" not in text
    assert summary_rows(summary)[0][3] == "1 issue"
    assert summary_rows({"clauses": [dict(sla, issues=3)]})[0][3] == "3 issues"


async def test_portal_preview_counts_one_panel(demo_db):
    import test_tui_report as tr
    from cache.models import Organization, OrganizationUser
    from tui.screens.portal import PortalPreviewScreen

    member = (OrganizationUser.select().join(Organization, on=(OrganizationUser.organization == Organization.id))
              .where(Organization.name == "Acme Logistics").first())
    app = tr.make_app(lambda: PortalPreviewScreen(tr.ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press(*member.account_id)
        await tr.wait_for(pilot, lambda: screen.panels and len(screen.panels) == 1)
        who = str(screen.query_one("#portal-who").render())
        assert who.endswith(": 1 panel"), who
        assert "1 issues" not in str(screen.query_one("#portal-panel-text").render())


async def test_report_rebuilds_its_tables_when_the_terminal_narrows(demo_db):
    """Resizing from 100 to 80 columns switches to the compact columns (Status back on screen)."""
    from textual.widgets import DataTable, Switch

    import test_tui_report as tr
    from cache.store import list_contracts
    from tui.screens.report import ReportScreen

    name = next(c.name for c in list_contracts() if "Bosphorus" in c.name)
    app = tr.make_app(lambda: ReportScreen(name))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await tr.open_report(pilot, name)
        screen.query_one("#switch-carry-over", Switch).value = True
        screen.query_one("#switch-borrowing", Switch).value = True
        await tr.wait_for(pilot, lambda: screen.shown.carry_over and screen.shown.borrowing)
        await pilot.resize_terminal(80, 24)
        await tr.wait_for(pilot, lambda: bool(screen.query("#table-0"))
                          and screen.query_one("#table-0", DataTable).cell_padding == 0
                          and screen.query_one("#table-0", DataTable).region.width > 0)
        await pilot.pause(0.05)
        table = screen.query_one("#table-0", DataTable)
        assert [str(col.label).strip() for col in table.columns.values()][-1] == "Status"
        assert table.max_scroll_x == 0


async def test_report_survives_escape_during_a_resize_rebuild(demo_db):
    """Esc right after a resize that rebuilds the tables: the app goes back, it does not crash."""
    import test_tui_report as tr
    from tui.screens.report import ReportScreen

    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await tr.open_report(pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert not screen.is_attached and app.is_running
        # the same race, forced: Esc while a rebuild is under way waits for it, then leaves
        screen = ReportScreen(tr.ACME)
        await app.push_screen(screen)
        await tr.wait_for(pilot, lambda: screen.base is not None)
        screen.run_worker(screen._build_tabs(), exclusive=True, group="report-build")
        screen.run_worker(screen._build_tabs())
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert not screen.is_attached and app.is_running
        await pilot.resize_terminal(100, 30)  # and the screen gone does not react any more
        await pilot.pause(0.2)
    assert app.return_code in (None, 0)


@pytest.mark.parametrize("keys", [("r", "c"), ("c", "b", "c", "b", "r", "c"), ("r", "b", "r", "c", "b")])
async def test_report_survives_quick_reload_and_flips(demo_db, keys):
    """Reload and policy flips in a row end on the right state and figures.

    The pilot hands keys over one at a time, so this does not race two builds by itself; the overlap
    that crashed in a real terminal is forced in test_report_table_builds_never_overlap."""
    import test_tui_report as tr
    from tui.screens.report import ReportScreen

    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await tr.open_report(pilot)
        start = (screen.shown.carry_over, screen.shown.borrowing)
        for key in keys:
            await pilot.press(key)
        after = keys[len(keys) - keys[::-1].index("r"):] if "r" in keys else keys  # r resets the switches
        co = start[0] ^ (after.count("c") % 2 == 1)
        bo = start[1] ^ (after.count("b") % 2 == 1)
        await tr.wait_for(pilot, lambda: screen.base is not None and not screen._building
                          and (screen.shown.carry_over, screen.shown.borrowing) == (co, bo))
        await pilot.pause(0.3)
        assert app.is_running
        # what the cells show is the engine's report under those policies
        assert tr.assert_matches(screen, tr.engine_report(carry_over=co, borrowing=bo)) > 50


async def test_report_table_builds_never_overlap(demo_db):
    """Two builds at once (a reload landing while a flip rebuilds): they queue, the tables end whole."""
    import asyncio

    import test_tui_report as tr
    from tui.screens.report import ReportScreen

    app = tr.make_app(lambda: ReportScreen(tr.ACME))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await tr.open_report(pilot)
        await asyncio.gather(screen._build_tabs(), screen._build_tabs(), screen._build_tabs())
        await pilot.pause(0.1)
        assert [p.id for p in screen.query("TabPane")] == [f"clause-{i}" for i in range(len(screen.shown.clauses))]
        assert tr.assert_matches(screen, tr.engine_report()) > 50
