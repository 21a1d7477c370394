"""Issue lookup (F2): a dialog asking for a key, then the issue view.

:class:`IssueLookupDialog` is a ``ModalScreen[str | None]`` (the key, or None
when cancelled).  :class:`IssueScreen` shows ``cache.reports.issue_view``:
every contract, clause and period the issue counts in, with its hours and SLA
outcome, and the clauses it does not match (rendered by
``tickets.render.render_issue_table``), loaded in a thread worker.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Input, Static


class IssueLookupDialog(ModalScreen[str | None]):
    HELP_TITLE = "Issue lookup"
    DEFAULT_CSS = """
    IssueLookupDialog { align: center middle; }
    IssueLookupDialog > Vertical { width: 60; max-width: 100%; height: auto; border: round $accent;
                                   background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Look up an issue[/]")
            yield Input(placeholder="issue key, e.g. SUP-123", id="issue-key")
            yield Static("Enter opens the issue view · Esc cancels", classes="muted")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        key = event.value.strip()
        self.dismiss(key.upper() if key else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class IssueScreen(Screen[None]):
    HELP_TITLE = "Issue view"
    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    IssueScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.view: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(f"{self.key}: loading...", id="issue-body")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Issue {self.key}"
        self.query_one(VerticalScroll).focus()
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from cache.reports import issue_view
        from tickets.render import render_issue_table
        from tui.screens.report import _close_thread_db

        try:
            view = issue_view(self.key, self.app.today)  # type: ignore[attr-defined]
            text, error = render_issue_table(view), None
        except Exception as exc:
            view, text, error = None, "", (str(exc).splitlines() or [type(exc).__name__])[0]
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._loaded, view, text, error)

    def _loaded(self, view, text: str, error: str | None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        from rich.text import Text

        self.view = view
        body = self.query_one("#issue-body", Static)
        body.update(Text(error, style="bold red") if error else Text(text))

    def action_reload(self) -> None:
        self.load()

    def on_sync_finished(self, event) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)
