"""Help: every key of every screen (F1 or ?)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

# Each screen module adds its own section by listing its BINDINGS; this text
# covers the global keys and is extended with the live bindings of the
# screens underneath when the help opens.
GLOBAL_KEYS = """\
# TicketBook keys

| key | action |
|---|---|
| F1, ? | this help |
| F5 | sync Jira now (runs in the background) |
| F2 | look up an issue by key |
| Ctrl+P | command palette |
| Escape | close a dialog / go back |
| Ctrl+Q | quit |
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 80%; max-width: 100; height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self._text())

    def _text(self) -> str:
        parts = [GLOBAL_KEYS]
        seen: set[str] = set()
        for screen in reversed(self.app.screen_stack[:-1] if self.app.screen_stack else []):
            name = getattr(screen, "HELP_TITLE", type(screen).__name__)
            if name in seen:
                continue
            seen.add(name)
            rows = [b for b in screen.BINDINGS if isinstance(b, Binding) and b.description]
            if not rows:
                continue
            parts.append(f"\n## {name}\n\n| key | action |\n|---|---|")
            parts.extend(f"| {b.key.replace(',', ', ')} | {b.description} |" for b in rows)
        return "\n".join(parts)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
