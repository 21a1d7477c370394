"""Jira connection form: site URL, email, API token; test, then save (mode 0600).

Shown over the contract list on the first run (``ticketbook`` without Jira
settings), by F5 when ``cache.config`` has no settings, or by ``k`` on the
sync screen.  "Test connection" calls ``/rest/api/3/myself`` through
:class:`cache.jira.JiraClient` in a thread worker (no retries).  Save writes
the config file with :func:`cache.config.save_config` (atomic, mode 0600);
settings from ``TICKETBOOK_JIRA_*`` environment variables still win over the
file.  Dismisses with True when saved.  The token field is a password input
and the token never appears in a message.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static


class ConnectScreen(ModalScreen[bool]):
    HELP_TITLE = "Jira connection"
    DEFAULT_CSS = """
    ConnectScreen { align: center middle; }
    ConnectScreen > #connect-box { width: 76; max-width: 100%; height: auto; border: round $accent;
                                   background: $surface; padding: 0 1; }
    ConnectScreen #connect-title { text-style: bold; }
    ConnectScreen Input { margin: 0 0 0 0; }
    ConnectScreen #connect-buttons { height: auto; margin: 1 0 0 0; }
    ConnectScreen #connect-buttons Button { margin: 0 1 0 0; }
    ConnectScreen #connect-result { margin: 1 0 0 0; }
    """
    BINDINGS = [
        Binding("f3", "test", "Test connection"),
        Binding("f4", "save", "Save"),
        Binding("escape", "close", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        url = email = ""
        try:
            from cache.config import load_config

            cfg = load_config()
            url, email = cfg.url or "", cfg.email or ""
        except Exception:  # a broken file: start empty, Save rewrites it
            pass
        with Vertical(id="connect-box"):
            yield Static("Connect to Jira Cloud", id="connect-title")
            yield Static("An API token from id.atlassian.com → Security → API tokens.", classes="muted")
            yield Label("Site URL")
            yield Input(url, placeholder="https://your-site.atlassian.net", id="connect-url")
            yield Label("Email")
            yield Input(email, placeholder="you@example.com", id="connect-email")
            yield Label("API token")
            yield Input("", placeholder="API token", password=True, id="connect-token")
            with Horizontal(id="connect-buttons"):
                yield Button("Test connection (F3)", id="connect-test")
                yield Button("Save (F4)", id="connect-save", variant="primary")
                yield Button("Cancel (Esc)", id="connect-cancel")
            yield Static("", id="connect-result")
        yield Footer()

    def _values(self) -> tuple[str, str, str]:
        return (self.query_one("#connect-url", Input).value.strip(),
                self.query_one("#connect-email", Input).value.strip(),
                self.query_one("#connect-token", Input).value.strip())

    def _say(self, text: str, *, error: bool = False) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        result = self.query_one("#connect-result", Static)
        result.set_class(error, "error")
        result.set_class(not error, "status-success")
        result.update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"connect-test": self.action_test, "connect-save": self.action_save,
         "connect-cancel": self.action_close}[event.button.id or "connect-cancel"]()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def action_close(self) -> None:
        self.dismiss(False)

    def action_test(self) -> None:
        url, email, token = self._values()
        self._say("Testing...")
        self._test(url, email, token)

    @work(thread=True, exclusive=True, group="connect-test")
    def _test(self, url: str, email: str, token: str) -> None:
        from cache.config import _check_email, normalize_url
        from cache.jira import JiraClient
        from tickets.errors import TicketbookError

        try:
            url = normalize_url(url, what="site URL")
            _check_email(email, what="email")
            if not token:
                raise ValueError("token: the API token is empty")
            with JiraClient(url, email, token, max_retries=0, timeout=15.0, connect_timeout=5.0) as client:
                me = client.myself()
            name = me.get("displayName") or me.get("emailAddress") or "?"
            zone = me.get("timeZone") or "?"
            text, error = f"Connected as {name} (time zone {zone})", False
        except (TicketbookError, ValueError) as exc:
            text, error = _one_line(str(exc), token), True
        except Exception as exc:
            text, error = _one_line(f"{type(exc).__name__}: {exc}", token), True
        self.app.call_from_thread(self._say, text, error=error)

    def action_save(self) -> None:
        from cache.config import save_config
        from tickets.errors import TicketbookError

        url, email, token = self._values()
        try:
            path = save_config(url, email, token)
        except TicketbookError as exc:
            self._say(_one_line(str(exc), token), error=True)
            return
        self.notify(f"Saved the Jira settings to {path} (mode 0600)", title="Connection")
        self.dismiss(True)


def _one_line(text: str, secret: str | None) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "failed"
    if secret and len(secret) >= 6:  # a real token is long; scrubbing "t" would garble the text
        line = line.replace(secret, "***")
    return line[:300]
