"""The sync screen (F5) and the connection form against the simulated Jira over real HTTP.

Each test: a real SQLite file in tmp_path, a generated site served by
``FakeJira`` on 127.0.0.1, the app driven with the Textual pilot.
"""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from textual.screen import Screen
from textual.widgets import Static

from cache.db import close_database, open_database
from cache.fakejira import DEMO_EMAIL, DEMO_TOKEN, FakeJira, Faults, generate_site

NOW = "2026-06-01T09:00:00+00:00"
AS_OF = dt.date(2026, 6, 1)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "sync.db"
    open_database(path)
    yield path
    close_database()


@pytest.fixture
def site():
    return generate_site(300, seed=5, now=NOW)


@pytest.fixture
def jira(site, monkeypatch, tmp_path):
    fj = FakeJira(site).start()
    monkeypatch.setenv("TICKETBOOK_JIRA_URL", fj.url)
    monkeypatch.setenv("TICKETBOOK_JIRA_EMAIL", DEMO_EMAIL)
    monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", DEMO_TOKEN)
    monkeypatch.setenv("TICKETBOOK_CONFIG", str(tmp_path / "no-config.toml"))
    yield fj
    fj.stop()


class Home(Screen):
    """A stand-in for the contract list: records SyncFinished."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[str] = []

    def compose(self):
        yield Static("home", id="home")

    def on_sync_finished(self, event) -> None:
        self.finished.append(event.status)


def make_app():
    from tui.app import AppOptions, TicketBookApp

    class _App(TicketBookApp):
        def on_mount(self, event) -> None:
            event.prevent_default()
            self.home = Home()
            self.push_screen(self.home)

    return _App(AppOptions(as_of=AS_OF))


async def wait_for(pilot, cond, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def service_desk_issue_count(site) -> int:
    desk_projects = {sd.projectId for sd in site.service_desks}
    return sum(1 for i in site.issues.values() if i.projectId in desk_projects)


def screen_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query(Static))


async def test_f5_syncs_with_progress(db, jira, site):
    from cache.models import Issue, SyncLog
    from tui.screens.sync import SyncScreen, sync_controller

    jira.faults = Faults(1.0, kinds=("slow",), delay=0.03)  # every request a little slow: progress is visible
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        seen: set[str] = set()
        while ctl.running:
            seen.add(str(app.screen.query_one("#sync-stage", Static).render()))
            await pilot.pause(0.02)
        assert ctl.state.status == "ok", ctl.state.error
        assert any(s.startswith("Syncing: issues") for s in seen), seen
        assert any("reference data" in s for s in seen), seen
        await pilot.pause(0.1)
        assert str(app.screen.query_one("#sync-stage", Static).render()).startswith("Finished")
        assert "sync done" in str(app.screen.query_one("#sync-message", Static).render())
        assert app.screen.query_one("#sync-bar").percentage == 1.0
        assert app.home.finished == ["ok"]
    assert Issue.select().count() == service_desk_issue_count(site)
    assert [r.status for r in SyncLog.select()] == ["ok"]


async def test_cancel_keeps_what_was_committed(db, jira):
    from cache.models import SyncLog
    from tui.screens.sync import SyncScreen, sync_controller

    jira.faults = Faults(1.0, kinds=("slow",), delay=0.3)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await wait_for(pilot, lambda: ctl.state.stage == "reference")
        await pilot.press("c")
        await wait_for(pilot, lambda: not ctl.running, timeout=10)
        assert ctl.state.status == "cancelled"
        assert "cancelled" in screen_text(app.screen)
        assert app.home.finished == ["cancelled"]
    assert [r.status for r in SyncLog.select()] == ["cancelled"]


async def test_wrong_token_is_one_line_without_the_token(db, jira, monkeypatch):
    from tui.screens.sync import SyncScreen, sync_controller

    secret = "wrong-token-Zx81-secret"
    monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", secret)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await wait_for(pilot, lambda: ctl.state.status is not None)
        assert ctl.state.status == "failed"
        error = str(app.screen.query_one("#sync-error", Static).render())
        assert error.startswith("Error: ") and "\n" not in error
        assert "401" in error or "authenticat" in error.lower() or "credentials" in error.lower()
        svg = app.export_screenshot()
        assert secret not in svg and secret not in screen_text(app.screen)
        assert app.home.finished == ["failed"]


async def test_ui_stays_responsive_during_a_slow_sync(db, jira):
    from tui.screens.issue import IssueLookupDialog
    from tui.screens.sync import SyncScreen, sync_controller

    jira.faults = Faults(1.0, kinds=("slow",), delay=0.15)
    app = make_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await pilot.press("escape")  # hide: the sync goes on
        assert app.screen is app.home and ctl.running
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueLookupDialog))
        await pilot.press(*"sup-1")
        typed = app.screen.query_one("Input").value
        assert typed == "sup-1"
        assert ctl.running, "the UI reacted while the sync was still running"
        await pilot.press("escape")
        # F5 shows the running sync again, it does not start a second one
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        assert ctl.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: not ctl.running, timeout=60)
        assert ctl.state.status == "ok", ctl.state.error
        await pilot.pause(0.1)
        assert any(n.title == "Sync finished" for n in app._notifications)
        assert app.home.finished == ["ok"]


async def test_first_run_opens_the_connection_form(db, jira, monkeypatch, tmp_path):
    from textual.widgets import Input

    from cache.config import load_config
    from cache.models import Issue
    from tui.screens.connect import ConnectScreen
    from tui.screens.sync import SyncScreen, sync_controller

    url = jira.url
    for var in ("TICKETBOOK_JIRA_URL", "TICKETBOOK_JIRA_EMAIL", "TICKETBOOK_JIRA_TOKEN"):
        monkeypatch.delenv(var)
    config_file = tmp_path / "conf" / "config.toml"
    monkeypatch.setenv("TICKETBOOK_CONFIG", str(config_file))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen))
        form = app.screen
        assert form.query_one("#connect-token", Input).password is True
        form.query_one("#connect-url", Input).value = url
        form.query_one("#connect-email", Input).value = DEMO_EMAIL
        form.query_one("#connect-token", Input).value = "not-the-token"
        await pilot.press("f3")
        await wait_for(pilot, lambda: "Testing" not in str(form.query_one("#connect-result").render())
                       and str(form.query_one("#connect-result").render()))
        assert "Connected" not in str(form.query_one("#connect-result").render())
        assert "not-the-token" not in str(form.query_one("#connect-result").render())
        form.query_one("#connect-token", Input).value = DEMO_TOKEN
        await pilot.press("f3")
        await wait_for(pilot, lambda: "Connected as" in str(form.query_one("#connect-result").render()))
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await wait_for(pilot, lambda: ctl.state.status is not None)
        assert ctl.state.status == "ok", ctl.state.error
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    cfg = load_config()
    assert cfg.url == url and cfg.email == DEMO_EMAIL and cfg.token.reveal() == DEMO_TOKEN
    assert Issue.select().count() > 0


async def test_connection_form_refuses_plain_http_to_a_remote_host(db, monkeypatch, tmp_path):
    from textual.widgets import Input

    from tui.screens.connect import ConnectScreen

    monkeypatch.setenv("TICKETBOOK_CONFIG", str(tmp_path / "c.toml"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen))
        form = app.screen
        form.query_one("#connect-url", Input).value = "http://jira.example.com"
        form.query_one("#connect-email", Input).value = "a@b.c"
        form.query_one("#connect-token", Input).value = "t"
        await pilot.press("f4")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConnectScreen)
        assert "http://" in str(form.query_one("#connect-result").render())
        assert not (tmp_path / "c.toml").exists()


async def test_quitting_cancels_a_running_sync(db, jira):
    import time

    from cache.models import SyncLog
    from tui.screens.sync import SyncScreen, sync_controller

    jira.faults = Faults(1.0, kinds=("slow",), delay=0.3)  # the whole sync would take > 10 s
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen))
        ctl = sync_controller(app)
        await wait_for(pilot, lambda: ctl.state.stage == "reference")
        await pilot.press("ctrl+q")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [r.status for r in SyncLog.select()] == ["running"]:
        time.sleep(0.1)
    assert [r.status for r in SyncLog.select()] == ["cancelled"]
