"""Sync Jira from anywhere (F5): progress, cancel, runs on in the background.

One sync at a time per app: the state lives in a :class:`SyncController`
attached to the app (:func:`sync_controller`), not in the screen, so Escape
hides the screen while the sync goes on and F5 shows it again.  The sync runs
``cache.sync.run_sync`` in a Textual *thread* worker owned by the app; its
progress callback marshals each :class:`cache.sync.SyncProgress` to the UI
with ``app.call_from_thread``; key ``c`` sets the ``threading.Event`` the
sync and the Jira client honour between requests and during retry waits.

When a sync ends (ok, cancelled or failed) every screen on the stack, and the
app itself, receives a :class:`SyncFinished` message (handle it with
``def on_sync_finished(self, event)`` to reload figures; ``event.status`` is
``ok`` / ``cancelled`` / ``failed``); if the sync screen is hidden, a
notification says how it ended.
Errors are one line and never show the API token.

Without Jira settings (``cache.config``: environment or config file), F5 opens
:class:`tui.screens.connect.ConnectScreen` first.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, ProgressBar, Static

STAGE_NAMES = {
    "lock": "taking the sync lock",
    "reference": "reference data",
    "issues": "issues",
    "sla": "SLA breaches",
    "worklogs": "worklogs",
    "deletions": "deleted issues",
    "done": "done",
}


class SyncFinished(Message):
    """Posted to every screen on the stack when a sync ends.

    ``status`` is ``ok``, ``cancelled`` or ``failed``; ``error`` a one-line
    reason when failed; ``result`` the :class:`cache.sync.SyncResult` (None
    when failed before one existed).
    """

    def __init__(self, status: str, error: str | None = None, result=None) -> None:
        super().__init__()
        self.status = status
        self.error = error
        self.result = result


@dataclass
class SyncState:
    running: bool = False
    stage: str = ""
    done: int = 0
    total: int | None = None
    message: str = ""
    status: str | None = None  # last outcome: ok | cancelled | failed
    error: str | None = None
    result: object | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    site: str = ""


def _scrub(text: str, secret: str | None) -> str:
    """One line, the token never shown."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "sync failed"
    if secret and len(secret) >= 6:  # a real token is long; scrubbing "t" would garble the text
        line = line.replace(secret, "***")
    return line[:300]


class SyncController:
    """The app's one sync: start, cancel, state, listeners (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.state = SyncState()
        self.cancel_event = threading.Event()
        self.views: list[SyncScreen] = []

    @property
    def running(self) -> bool:
        return self.state.running

    # -- configuration ----------------------------------------------------------
    @staticmethod
    def load_settings():
        """``(config, settings)``; settings None when not configured.  InputError for a bad config file."""
        from cache.config import load_config

        config = load_config()
        if config.missing():
            return config, None
        return config, config.jira()

    # -- start / cancel -------------------------------------------------------------
    def fail_before_start(self, message: str) -> None:
        """This attempt never started (no settings, a bad config file): a failed state with no
        leftovers of the last sync."""
        self.state = SyncState()
        self._end("failed", message, None)

    def start(self, *, full: bool = False) -> bool:
        """Start a sync unless one is running; False when it could not start (state says why)."""
        from tickets.errors import TicketbookError

        if self.state.running:
            return False
        try:
            config, settings = self.load_settings()
        except TicketbookError as exc:
            self.fail_before_start(_scrub(str(exc), None))
            return False
        if settings is None:
            self.fail_before_start("Jira is not configured (F5 opens the connection form)")
            return False
        self.cancel_event = threading.Event()
        self.state = SyncState(running=True, stage="lock", message="starting", started=dt.datetime.now(),
                               site=settings.describe())
        self._notify_views()
        cancel = self.cancel_event
        app = self.app

        def work() -> None:
            from cache.db import database
            from cache.jira import JiraClient
            from cache.sync import run_sync

            db = database.obj
            token = settings.token.reveal() if settings.token else None
            outcome: tuple = ("failed", "sync did not run", None)
            try:
                with JiraClient.from_settings(settings, cancel=cancel) as client:
                    result = run_sync(db, client, full=full, progress=self._progress_from_thread,
                                      cancel=cancel, scope=config.scope)
                outcome = (result.status, result.error, result)
            except TicketbookError as exc:
                outcome = ("failed", _scrub(str(exc), token), None)
            except Exception as exc:  # a bug: still one line on screen
                outcome = ("failed", _scrub(f"internal error: {type(exc).__name__}: {exc}", token), None)
            finally:
                try:
                    db.close()  # this thread's connection only
                except Exception:
                    pass
            try:
                app.call_from_thread(self._end, *outcome)
            except RuntimeError:  # the app is gone
                pass

        app.run_worker(work, thread=True, group="sync", name="sync", exit_on_error=False)
        return True

    def cancel(self) -> None:
        if self.state.running:
            self.cancel_event.set()
            self.state.message = "cancelling after the current request..."
            self._notify_views()

    # -- from the worker thread -----------------------------------------------------
    def _progress_from_thread(self, p) -> None:
        try:
            self.app.call_from_thread(self._progress, p)
        except RuntimeError:  # app closing: stop the sync too
            self.cancel_event.set()

    # -- on the UI thread ---------------------------------------------------------------
    def _progress(self, p) -> None:
        s = self.state
        if not s.running:
            return
        s.stage, s.done, s.total, s.message = p.stage, p.done, p.total_estimate, p.message
        if self.cancel_event.is_set():
            s.message = "cancelling after the current request..."
        self._notify_views()

    def _end(self, status: str, error: str | None, result) -> None:
        s = self.state
        s.running = False
        s.status = status
        s.error = error if status == "failed" else None
        s.result = result
        s.finished = dt.datetime.now()
        where = _where(s)
        if status == "ok":
            s.stage, s.message = "done", summary_line(result)
        elif status == "cancelled":
            s.message = f"sync cancelled{where}; what was committed is kept (F5 then s continues)"
        elif s.started is None:  # not configured, or a bad config file: it never started
            s.message = "sync failed before it started"
        else:
            s.message = f"sync failed{where}; what was committed is kept (F5 then s tries again)"
        self._notify_views()
        visible = any(v.is_current for v in self.views)
        if not visible and s.started is not None:
            if status == "ok":
                self.app.notify(summary_line(result), title="Sync finished")
            elif status == "cancelled":
                self.app.notify("Sync cancelled", title="Sync")
            else:
                self.app.notify(s.error or "sync failed", title="Sync failed", severity="error", timeout=10)
        if s.started is not None:
            msg_args = (status, s.error, result)
            for screen in list(self.app.screen_stack):
                screen.post_message(SyncFinished(*msg_args))
            self.app.post_message(SyncFinished(*msg_args))  # for an app-level ``on_sync_finished``

    def _notify_views(self) -> None:
        for v in list(self.views):
            if v.is_attached:
                v.refresh_state()


def _where(s: SyncState) -> str:
    """`` at issues (300 of ~1089)``: where a sync stopped; empty before its first step."""
    if s.stage in ("", "lock"):
        return ""
    counts = f"{s.done} of ~{s.total}" if s.total else (f"{s.done}" if s.done else "")
    return f" at {STAGE_NAMES.get(s.stage, s.stage)}" + (f" ({counts})" if counts else "")


def summary_line(result) -> str:
    if result is None:
        return "sync finished"
    extra = " (deletions reconciled)" if getattr(result, "reconciled", False) else ""
    return (f"sync done: {result.issues_upserted} issues and {result.worklogs_upserted} worklogs updated, "
            f"{result.issues_deleted} issues and {result.worklogs_deleted} worklogs deleted{extra}")


def sync_controller(app: App) -> SyncController:
    """The app's sync controller (created on first use)."""
    ctl = getattr(app, "_ticketbook_sync", None)
    if ctl is None:
        ctl = SyncController(app)
        app._ticketbook_sync = ctl  # type: ignore[attr-defined]
    return ctl


class SyncScreen(ModalScreen[None]):
    """Progress of the running sync; starts one when opened and none is running."""

    HELP_TITLE = "Sync"
    DEFAULT_CSS = """
    SyncScreen { align: center middle; }
    SyncScreen > #sync-box { width: 76; max-width: 100%; height: auto; border: round $accent;
                             background: $surface; padding: 0 1; }
    SyncScreen #sync-title { text-style: bold; }
    SyncScreen ProgressBar { margin: 1 0 0 0; }
    SyncScreen #sync-error { color: $error; text-style: bold; }
    SyncScreen #sync-keys { color: $text-muted; margin: 1 0 0 0; }
    """
    BINDINGS = [  # while a sync runs: hide and cancel; else close, sync again, full sync (check_action)
        Binding("escape", "hide", "Hide (sync goes on)"),
        Binding("escape", "close", "Close"),
        Binding("c", "cancel_sync", "Cancel sync"),
        Binding("s", "start_sync", "Sync again"),
        Binding("f", "full_sync", "Full sync"),
        Binding("k", "connect", "Connection settings"),
    ]

    def __init__(self, *, autostart: bool = True) -> None:
        super().__init__()
        self.autostart = autostart

    @property
    def controller(self) -> SyncController:
        return sync_controller(self.app)

    def compose(self) -> ComposeResult:
        with Vertical(id="sync-box"):
            yield Static("Sync Jira", id="sync-title")
            yield Static("", id="sync-site", classes="muted")
            yield Static("", id="sync-stage")
            yield ProgressBar(total=None, show_eta=False, id="sync-bar")
            yield Static("", id="sync-message")
            yield Static("", id="sync-error")
            yield Static("", id="sync-keys")
        yield Footer()

    def on_mount(self) -> None:
        ctl = self.controller
        ctl.views.append(self)
        if not ctl.running and self.autostart:
            self._start(full=False)
        self.refresh_state()

    def on_unmount(self) -> None:
        if self in self.controller.views:
            self.controller.views.remove(self)

    # -- start, with the connection form when there are no settings ------------------
    def _start(self, *, full: bool) -> None:
        from tickets.errors import TicketbookError

        ctl = self.controller
        try:
            _config, settings = ctl.load_settings()
        except TicketbookError as exc:
            ctl.fail_before_start(_scrub(str(exc), None))
            return
        if settings is None:
            from tui.screens.connect import ConnectScreen

            def after(saved: bool | None) -> None:
                if saved:
                    ctl.start(full=full)
                    self.refresh_state()
                elif not ctl.running and ctl.state.status is None:
                    self.dismiss(None)

            self.app.push_screen(ConnectScreen(), after)
            return
        ctl.start(full=full)

    # -- display ------------------------------------------------------------------------
    def refresh_state(self) -> None:
        if not self.is_attached:
            return
        s = self.controller.state
        bar = self.query_one("#sync-bar", ProgressBar)
        stage = STAGE_NAMES.get(s.stage, s.stage)
        self.query_one("#sync-site", Static).update(f"Site: {s.site}" if s.site else "")
        if s.running:
            title = "Syncing"
            if s.total:
                bar.update(total=max(s.total, s.done), progress=s.done)
                counts = f"{s.done} of ~{s.total}"
            else:
                bar.update(total=None)
                counts = f"{s.done}" if s.done else ""
            self.query_one("#sync-stage", Static).update(
                f"{title}: {stage}" + (f" — {counts}" if counts else ""))
        else:
            outcome = {"ok": "Finished", "cancelled": "Cancelled", "failed": "Failed"}.get(s.status or "", "Idle")
            if s.status == "ok":
                bar.update(total=1, progress=1)
            elif s.total:  # cancelled or failed: the bar stays where the sync stopped
                bar.update(total=max(s.total, s.done), progress=s.done)
            else:
                bar.update(total=1, progress=0)
            self.query_one("#sync-stage", Static).update(f"{outcome}" + (
                f" at {s.finished:%H:%M:%S}" if s.finished else ""))
        self.query_one("#sync-message", Static).update(s.message)
        err = self.query_one("#sync-error", Static)
        err.update(f"Error: {s.error}" if s.error else "")
        err.display = bool(s.error)
        keys = ("c cancel · Esc hide (the sync goes on; F5 shows it again)" if s.running
                else "s sync again · f full sync · k connection · Esc close")
        self.query_one("#sync-keys", Static).update(keys)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers what fits: hide and cancel while a sync runs; close and sync otherwise."""
        running = self.controller.running
        if action in ("hide", "cancel_sync"):
            return running
        if action in ("close", "start_sync", "full_sync"):
            return not running
        return True

    # -- actions ----------------------------------------------------------------------------
    def action_hide(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_sync(self) -> None:
        self.controller.cancel()

    def action_start_sync(self) -> None:
        if not self.controller.running:
            self._start(full=False)
            self.refresh_state()

    def action_full_sync(self) -> None:
        if not self.controller.running:
            self._start(full=True)
            self.refresh_state()

    def action_connect(self) -> None:
        if self.controller.running:
            self.notify("A sync is running; change the connection when it ends.", severity="warning")
            return
        from tui.screens.connect import ConnectScreen

        self.app.push_screen(ConnectScreen())
