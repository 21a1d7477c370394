"""Small modal dialogs shared by the contract screens: confirm, unsaved changes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Static


class ConfirmDialog(ModalScreen[bool]):
    """Yes / No.  ``y`` or Enter on Yes confirms; ``n`` or Escape refuses."""

    HELP_TITLE = "Confirm"
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 64; max-width: 100%; height: auto; border: round $warning;
                               background: $surface; padding: 0 1; }
    ConfirmDialog #confirm-text { height: auto; padding: 1 0; }
    ConfirmDialog Horizontal { height: auto; align-horizontal: right; }
    ConfirmDialog Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, text: str, *, yes: str = "Yes", no: str = "No", title: str = "Confirm") -> None:
        super().__init__()
        self.text = text
        self.yes_label = yes
        self.no_label = no
        self.title_text = title
        self.quitting = False  # set by the app's quit question

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(self.text, id="confirm-text")
            with Horizontal():
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error", compact=True)
                yield Button(f"{self.no_label} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class UnsavedChangesDialog(ModalScreen[str]):
    """Save / Discard / Cancel: returns ``"save"``, ``"discard"`` or ``"cancel"``."""

    HELP_TITLE = "Unsaved changes"
    DEFAULT_CSS = """
    UnsavedChangesDialog { align: center middle; }
    UnsavedChangesDialog > Vertical { width: 64; max-width: 100%; height: auto; border: round $warning;
                                      background: $surface; padding: 0 1; }
    UnsavedChangesDialog #unsaved-text { height: auto; padding: 1 0; }
    UnsavedChangesDialog Horizontal { height: auto; align-horizontal: right; }
    UnsavedChangesDialog Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("s", "answer('save')", "Save"),
        Binding("d", "answer('discard')", "Discard"),
        Binding("c,escape", "answer('cancel')", "Cancel"),
    ]

    def __init__(self, what: str = "this contract") -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Unsaved changes"
            yield Static(f"You changed {self.what} and did not save. Save the changes, discard them, "
                         "or cancel and keep editing?", id="unsaved-text")
            with Horizontal():
                yield Button("Save (s)", id="save", variant="primary", compact=True)
                yield Button("Discard (d)", id="discard", variant="error", compact=True)
                yield Button("Cancel (c)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "cancel")

    def action_answer(self, value: str) -> None:
        self.dismiss(value)


def keep_text_on_focus(screen: Screen) -> None:
    """Entering a field of a form puts the cursor at the end instead of selecting the whole text.

    Textual selects an Input's text on focus, so one stray key (Tab then a letter) wiped a
    contract name: in the editor and its dialogs, typing now adds to what is there.
    """
    for field in screen.query(Input):
        field.select_on_focus = False
        if field.has_focus:  # focused by the screen before this ran: drop that selection
            field.cursor_position = len(field.value)
