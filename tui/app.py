"""The TicketBook Textual application: the shell every screen plugs into.

Screens live in ``tui/screens/``; the app opens them through the ``open_*``
methods below (imported lazily, so start-up stays fast and screens do not
import each other).  Keys work over SSH: letters, digits, F-keys, arrows.

Global keys (also listed by the help screen, F1 or ?):

==========  =================================
F1, ?       help: every key of every screen
F5          sync Jira now (a background worker)
F2          look up an issue by key
Ctrl+P      command palette (main actions)
Ctrl+Q      quit
==========  =================================

Blocking work (database, HTTP) runs in thread workers; the database handle is
the process-wide ``cache.db.database`` proxy, opened before the app starts
(peewee gives every thread its own connection to the same file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen


@dataclass(frozen=True)
class AppOptions:
    """What the command line hands to the app."""

    db: str | None = None
    as_of: dt.date | None = None
    demo: bool = False
    # Show the connection screen over the list when Jira is not configured (the real
    # first run).  Only ``ticketbook`` (tui/cmd_app.py) turns it on; tests and the demo leave it off.
    first_run_check: bool = False


class TicketBookApp(App):
    TITLE = "TicketBook"
    SUB_TITLE = "service contracts on Jira Service Management"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses (tests) live elsewhere
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f5", "sync", "Sync"),
        Binding("f2", "issue_lookup", "Issue"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, options: AppOptions | None = None) -> None:
        super().__init__()
        self.options = options or AppOptions()

    # --- the date treated as today --------------------------------------------------
    @property
    def today(self) -> dt.date:
        return self.options.as_of or dt.date.today()

    # --- start-up -----------------------------------------------------------------------
    def on_mount(self) -> None:
        from tui.screens.contracts import ContractListScreen

        self.push_screen(ContractListScreen())
        if self.options.first_run_check and not self.options.demo:
            self._first_run_check()

    @work(thread=True, exclusive=True, group="first-run", exit_on_error=False)
    def _first_run_check(self) -> None:
        """No usable Jira settings (environment or config file): the connection screen over the list."""
        from cache.config import load_config

        problem = None
        try:
            if not load_config().missing():
                return
        except Exception as exc:  # a broken or unreadable config file: say why, offer to rewrite it
            problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.call_from_thread(self._show_connect, problem)

    def _show_connect(self, problem: str | None) -> None:
        from tui.screens.connect import ConnectScreen

        if problem:
            self.notify(problem[:300], title="Jira connection", severity="warning", timeout=10)
        self.push_screen(ConnectScreen())  # Escape (Cancel) leads back to the list

    def on_unmount(self) -> None:
        # A sync still running in its thread worker must stop, or the process waits for it at exit.
        sync = getattr(self, "_ticketbook_sync", None)
        if sync is not None:
            sync.cancel_event.set()

    # --- navigation used by every screen -----------------------------------------------
    def open_editor(self, contract_name: str | None = None) -> None:
        from tui.screens.editor import ContractEditorScreen

        self.push_screen(ContractEditorScreen(contract_name))

    def open_report(self, contract_name: str) -> None:
        from tui.screens.report import ReportScreen

        self.push_screen(ReportScreen(contract_name))

    def open_summary(self, contract_name: str) -> None:
        from tui.screens.summary import SummaryScreen

        self.push_screen(SummaryScreen(contract_name))

    def open_portal_preview(self, contract_name: str | None = None) -> None:
        from tui.screens.portal import PortalPreviewScreen

        self.push_screen(PortalPreviewScreen(contract_name))

    def open_issue(self, key: str) -> None:
        from tui.screens.issue import IssueScreen

        self.push_screen(IssueScreen(key))

    # --- global actions ------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit; first asks when a screen holds unsaved changes (the contract editor): never dropped silently."""
        from tui.screens.dialogs import ConfirmDialog

        unsaved = [s for s in self.screen_stack if getattr(s, "has_unsaved_changes", False)]
        if not unsaved or isinstance(self.screen, ConfirmDialog) and getattr(self.screen, "quitting", False):
            self.exit()  # nothing unsaved, or Ctrl+Q pressed again on the question
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        dialog = ConfirmDialog("A contract has unsaved changes. Quit anyway and drop them? "
                               "(No: go back and save with Ctrl+S.)", yes="Quit", no="Keep editing",
                               title="Unsaved changes")
        dialog.quitting = True
        self.push_screen(dialog, answered)

    def action_sync(self) -> None:
        from tui.screens.sync import SyncScreen

        if not isinstance(self.screen, SyncScreen):
            self.push_screen(SyncScreen())

    def action_issue_lookup(self) -> None:
        from tui.screens.issue import IssueLookupDialog

        def _open(key: str | None) -> None:
            if key:
                self.open_issue(key)

        self.push_screen(IssueLookupDialog(), _open)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Sync Jira now", "Run an incremental sync in the background (F5)", self.action_sync)
        yield SystemCommand("Look up an issue", "Show which contracts, clauses and periods count an issue (F2)",
                            self.action_issue_lookup)
        yield SystemCommand("New contract", "Create a contract in the editor", lambda: self.open_editor(None))
        yield SystemCommand("Customer-portal preview", "See the panels a user would see", self.open_portal_preview)
        yield SystemCommand("Help", "Every key of every screen (F1)", self.action_help)
