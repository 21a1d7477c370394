"""SVG snapshots of the report screen (both switch states, 100x30 and 80x24) and the sync screen.

Deterministic: the demo dataset (seeded site, clock frozen at AS_OF noon UTC,
sync clock frozen too), a fixed ``as_of``.  Update after a deliberate change
with ``pytest tests/test_tui_snapshots_report.py --snapshot-update`` and look
at the SVGs.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from cache.db import close_database, open_database

AS_OF = dt.date(2026, 6, 10)
ACME = "Acme Logistics - Monthly Support"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    from tui.demo import prepare_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("TICKETBOOK_JIRA_URL", "TICKETBOOK_JIRA_EMAIL", "TICKETBOOK_JIRA_TOKEN", "TICKETBOOK_CONFIG"):
            mp.setenv(var, "x")
        fj, _result, _ = prepare_demo(path, issues=1500, seed=1, as_of=AS_OF)
        fj.stop()
    close_database()
    return path


@pytest.fixture
def db(template_db, tmp_path):
    path = tmp_path / "snap.db"
    shutil.copy(template_db, path)
    open_database(path)
    yield path
    close_database()


def report_app(name: str = ACME):
    from tui.app import AppOptions, TicketBookApp
    from tui.screens.report import ReportScreen

    class _App(TicketBookApp):
        def on_mount(self, event) -> None:
            event.prevent_default()
            self.push_screen(ReportScreen(name))

    return _App(AppOptions(as_of=AS_OF))


def until_loaded(*keys: str):
    async def run_before(pilot) -> None:
        for _ in range(400):
            if getattr(pilot.app.screen, "base", None) is not None:
                break
            await pilot.pause(0.05)
        assert pilot.app.screen.base is not None
        for k in keys:
            await pilot.press(k)
        await pilot.pause(0.1)

    return run_before


def test_report_100x30(db, snap_compare):
    assert snap_compare(report_app(), terminal_size=(100, 30), run_before=until_loaded())


def test_report_100x30_both_switches_on(db, snap_compare):
    assert snap_compare(report_app(), terminal_size=(100, 30), run_before=until_loaded("c", "b", "2"))


def test_report_80x24(db, snap_compare):
    assert snap_compare(report_app(), terminal_size=(80, 24), run_before=until_loaded())


def test_sync_screen_100x30(db, snap_compare):
    from tui.app import AppOptions, TicketBookApp
    from tui.screens.report import ReportScreen
    from tui.screens.sync import SyncScreen, SyncState, sync_controller

    class _App(TicketBookApp):
        def on_mount(self, event) -> None:
            event.prevent_default()
            self.push_screen(ReportScreen(ACME))
            # a sync in progress, as the controller would show it (the real run is in test_tui_sync.py)
            sync_controller(self).state = SyncState(
                running=True, stage="issues", done=300, total=1089, message="300 issues",
                site="demo@example.com at http://127.0.0.1:8080")
            self.push_screen(SyncScreen(autostart=False))

    async def run_before(pilot) -> None:
        for _ in range(400):
            if pilot.app.screen_stack[1].base is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)

    assert snap_compare(_App(AppOptions(as_of=AS_OF)), terminal_size=(100, 30), run_before=run_before)
