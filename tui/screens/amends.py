"""The amends popup of one clause, and the dialog for one amend.

An amend changes one period's limit or consumption by a non-zero value
(negative allowed) in the clause's units (issues, or hours with at most 2
decimals).  The period is picked from the contract's periods and stored as
the period's start date.  Amends are part of the contract being edited: the
popup hands the list back to the editor, and they are written when the
contract is saved.

Refused with the rule's own message (:func:`tickets.rules.check_amend_allowed`):
any amend on an SLA success rate clause; a limit amend on an unlimited clause.

Keys (popup): a add, e / Enter edit, d delete, Escape close (changes kept in
the editor, unsaved).  Keys (amend dialog): Ctrl+S or Enter OK, Escape cancel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tickets import rules
from tickets.model import Amend, AmendKind, Clause, ClauseType
from tickets.periods import Period, period_index_for_date
from tui import validators
from tui.screens.dialogs import keep_text_on_focus
from tui.screens.clause import CLAUSE_TYPE_LABELS, units_input_text, units_text

KIND_LABELS = {
    AmendKind.LIMIT: "Limit (more or less allowed in the period)",
    AmendKind.CONSUMPTION: "Consumption (add to or take off the usage)",
}
OUTSIDE = -1  # the Select value of an amend date outside every period


def period_label(p: Period) -> str:
    """``3: 2025-03-01..2025-03-31`` (periods are numbered from 1 on screen)."""
    return f"{p.index + 1}: {p.start.isoformat()}..{p.end.isoformat()}"


def amend_period_text(amend: Amend, periods: Sequence[Period]) -> str:
    i = period_index_for_date(periods, amend.date)
    if i is None:
        return f"{amend.date.isoformat()} (outside the contract)"
    return period_label(periods[i])


class AmendDialog(ModalScreen[Amend | None]):
    """Add or edit one amend of ``clause``."""

    HELP_TITLE = "Amend"
    BINDINGS = [
        Binding("ctrl+s", "ok", "OK"),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    AmendDialog { align: center middle; }
    AmendDialog > #amend-box { width: 80; max-width: 100%; height: auto; border: round $accent;
                               background: $surface; padding: 0 1; }
    AmendDialog .field { height: 1; margin-top: 1; }
    AmendDialog .field > Label { width: 10; }
    AmendDialog .field > Input { width: 1fr; }
    AmendDialog .field > Select { width: 1fr; }
    AmendDialog .field > Label.unit { padding-left: 1; width: auto; color: $text-muted; }
    AmendDialog .field-error { color: $error; height: auto; padding-left: 10; }
    AmendDialog #amend-messages { height: auto; margin-top: 1; }
    AmendDialog #amend-buttons { height: 1; margin-top: 1; align-horizontal: right; }
    AmendDialog #amend-buttons Button { margin-left: 1; }
    """

    def __init__(self, clause: Clause, periods: Sequence[Period], amend: Amend | None = None) -> None:
        super().__init__()
        self.clause = clause
        self.periods = list(periods)
        self.amend = amend

    def compose(self) -> ComposeResult:
        a = self.amend
        options = [(period_label(p), p.index) for p in self.periods]
        value: int = self.periods[0].index if self.periods else OUTSIDE
        if a is not None:
            i = period_index_for_date(self.periods, a.date)
            if i is None:
                options.append((f"{a.date.isoformat()} (outside the contract, kept as is)", OUTSIDE))
                value = OUTSIDE
            else:
                value = i
        with Vertical(id="amend-box") as box:
            box.border_title = f"Amend of {self.clause.name}" if a is None else f"Edit amend of {self.clause.name}"
            with Horizontal(classes="field"):
                yield Label("Period")
                yield Select(options, value=value, allow_blank=False, id="amend-period", compact=True)
            with Horizontal(classes="field"):
                yield Label("Kind")
                yield Select([(label, k.value) for k, label in KIND_LABELS.items()],
                             value=(a.kind if a else AmendKind.CONSUMPTION if self.clause.limit is None
                                    else AmendKind.LIMIT).value,
                             allow_blank=False, id="amend-kind", compact=True)
            yield Static("", id="amend-kind-error", classes="field-error", markup=False)
            with Horizontal(classes="field"):
                yield Label("Value")
                yield Input(units_input_text(self.clause.type, a.value) if a else "", id="amend-value", compact=True,
                            placeholder="e.g. 10 or -2", validators=[validators.amend_value(lambda: self.clause.type)])
                unit = "hours (at most 2 decimals; negative allowed)" if self.clause.type is ClauseType.SERVICE_HOURS \
                    else "issues (negative allowed)"
                yield Label(unit, classes="unit")
            yield Static("", id="amend-value-error", classes="field-error", markup=False)
            with Horizontal(classes="field"):
                yield Label("Notes")
                yield Input(a.notes if a else "", id="amend-notes", compact=True, placeholder="optional")
            yield Static("", id="amend-messages", markup=False)
            with Horizontal(id="amend-buttons"):
                yield Button("OK (Ctrl+S)", id="amend-ok", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="amend-cancel", compact=True)

    def on_mount(self) -> None:
        keep_text_on_focus(self)
        self.query_one("#amend-value", Input).focus()
        self._check_kind()

    def _kind(self) -> AmendKind:
        return rules.parse_amend_kind(self.query_one("#amend-kind", Select).value)

    def _check_kind(self) -> str | None:
        problem = rules.check_amend_allowed(self.clause.type, self.clause.limit is not None, self._kind())
        error = self.query_one("#amend-kind-error", Static)
        error.update(problem or "")
        error.display = problem is not None
        return problem

    def _check_value(self) -> str | None:
        widget = self.query_one("#amend-value", Input)
        problem = validators.first_problem(widget.validators, widget.value)
        widget.set_class(problem is not None, "-invalid")
        error = self.query_one("#amend-value-error", Static)
        error.update(problem or "")
        error.display = problem is not None
        return problem

    @on(Input.Changed)
    @on(Select.Changed)
    def _clear_message(self) -> None:
        """A "Not saved: ..." message is about the values then: it goes once the user changes one."""
        messages = self.query_one("#amend-messages", Static)
        messages.update("")
        messages.remove_class("error")

    @on(Select.Changed, "#amend-kind")
    def _kind_changed(self) -> None:
        self._check_kind()

    @on(Input.Changed, "#amend-value")
    def _value_changed(self) -> None:
        self._check_value()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_ok()

    @on(Button.Pressed, "#amend-ok")
    def _ok(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_ok()

    @on(Button.Pressed, "#amend-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def build(self) -> tuple[Amend | None, list[str]]:
        problems = [p for p in (self._check_kind(), self._check_value()) if p]
        if problems:
            return None, problems
        index = self.query_one("#amend-period", Select).value
        if index == OUTSIDE and self.amend is not None:
            date = self.amend.date
        elif isinstance(index, int) and 0 <= index < len(self.periods):
            date = self.periods[index].start
        else:
            return None, ["pick a period"]
        value = rules.parse_amend_value(self.clause.type, self.query_one("#amend-value", Input).value)
        notes = self.query_one("#amend-notes", Input).value.strip()
        return Amend(date=date, kind=self._kind(), value=value, notes=notes), []

    def action_ok(self) -> None:
        amend, problems = self.build()
        if amend is None:
            self.query_one("#amend-messages", Static).update("Not saved: " + "; ".join(problems))
            self.query_one("#amend-messages", Static).add_class("error")
            return
        self.dismiss(amend)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AmendsScreen(ModalScreen[tuple[Amend, ...] | None]):
    """The amends of one clause; dismisses with the (possibly changed) amends, in the editor's draft."""

    HELP_TITLE = "Amends"
    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("escape", "close", "Close"),
    ]
    DEFAULT_CSS = """
    AmendsScreen { align: center middle; }
    AmendsScreen > #amends-box { width: 96; max-width: 100%; height: 24; max-height: 100%; border: round $accent;
                                 background: $surface; padding: 0 1; }
    AmendsScreen #amends-info { height: auto; color: $text-muted; }
    AmendsScreen #amend-table { height: 1fr; }
    AmendsScreen #amends-messages { height: auto; }
    AmendsScreen #amends-hint { height: 1; color: $text-muted; }
    AmendsScreen #amends-buttons { height: 1; align-horizontal: right; }
    """

    def __init__(self, clause: Clause, periods: Sequence[Period]) -> None:
        super().__init__()
        self.clause = clause
        self.periods = list(periods)
        self.amends: list[Amend] = list(clause.amends)
        self.refusal = rules.check_amend_allowed(clause.type, clause.limit is not None)

    def compose(self) -> ComposeResult:
        c = self.clause
        with Vertical(id="amends-box") as box:
            box.border_title = f"Amends of {c.name}"
            limit = "unlimited (consumption amends only)" if c.limit is None else f"limit {units_text(c.type, c.limit)}"
            yield Static(Text(f"{CLAUSE_TYPE_LABELS[c.type]} · {limit} · {len(self.periods)} periods"),
                         id="amends-info")
            table: DataTable = DataTable(id="amend-table", cursor_type="row", zebra_stripes=True)
            table.add_column("Period", key="period", width=26)  # "12: 2026-06-01..2026-06-30"
            table.add_column("Kind", key="kind", width=11)
            table.add_column("Value", key="value", width=10)
            table.add_column("Notes", key="notes")
            yield table
            yield Static("", id="amends-messages", markup=False)
            yield Static("a add · e/Enter edit · d delete · Esc close (saved with the contract)", id="amends-hint")
            with Horizontal(id="amends-buttons"):
                yield Button("Close (Esc)", id="amends-close", compact=True)

    def on_mount(self) -> None:
        self._fill()
        self.query_one("#amend-table", DataTable).focus()
        if self.refusal:
            self._message(self.refusal, error=True)

    def _fill(self, cursor: int | None = None) -> None:
        table = self.query_one("#amend-table", DataTable)
        table.clear()
        for i, a in enumerate(self.amends):
            table.add_row(Text(amend_period_text(a, self.periods)), a.kind.value,
                          units_text(self.clause.type, a.value, signed=True), Text(a.notes), key=str(i))
        if cursor is not None and self.amends:
            table.move_cursor(row=max(0, min(cursor, len(self.amends) - 1)))

    def _message(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#amends-messages", Static)
        widget.update(text)
        widget.set_class(error, "error")

    def _selected(self) -> int | None:
        table = self.query_one("#amend-table", DataTable)
        if not self.amends or table.row_count == 0:
            return None
        return table.cursor_row

    def _sort(self) -> None:
        self.amends.sort(key=lambda a: a.date)

    @on(DataTable.RowSelected, "#amend-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    @on(Button.Pressed, "#amends-close")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_add(self) -> None:
        if self.refusal:
            self._message(self.refusal, error=True)
            return

        def added(amend: Amend | None) -> None:
            if amend is not None:
                self.amends.append(amend)
                self._sort()
                self._fill(cursor=self.amends.index(amend))
                self._message(f"amend added ({len(self.amends)} in all)")

        self.app.push_screen(AmendDialog(self.clause, self.periods), added)

    def action_edit(self) -> None:
        i = self._selected()
        if i is None:
            self._message("no amend selected (press a to add one)", error=True)
            return
        if self.refusal:
            self._message(self.refusal, error=True)
            return

        def edited(amend: Amend | None) -> None:
            if amend is not None:
                self.amends[i] = amend
                self._sort()
                self._fill(cursor=self.amends.index(amend))
                self._message("amend changed")

        self.app.push_screen(AmendDialog(self.clause, self.periods, self.amends[i]), edited)

    def action_delete(self) -> None:
        i = self._selected()
        if i is None:
            self._message("no amend selected", error=True)
            return
        from tui.screens.dialogs import ConfirmDialog

        amend = self.amends[i]

        def answered(yes: bool | None) -> None:
            if yes:
                del self.amends[i]
                self._fill(cursor=i)
                self._message("amend deleted")

        self.app.push_screen(ConfirmDialog(
            f"Delete the {amend.kind.value} amend {units_text(self.clause.type, amend.value, signed=True)} of "
            f"{amend_period_text(amend, self.periods)}?", yes="Delete", no="Keep", title="Delete amend"), answered)

    def action_close(self) -> None:
        self.dismiss(tuple(self.amends))


def with_amends(clause: Clause, amends: Sequence[Amend]) -> Clause:
    return dataclasses.replace(clause, amends=tuple(amends))


__all__ = ["AmendDialog", "AmendsScreen", "amend_period_text", "period_label", "with_amends"]
