"""The clause dialog: one quota or goal of a contract (a typed ``ModalScreen[Clause | None]``).

Fields: name, type (number of issues / total service hours / SLA success
rate), JQL with live feedback (the parse error and a caret under its
position, from :func:`tickets.jql.parse`; and how many cached issues match,
from :func:`cache.membership.count_matches` in a debounced thread worker, or
why it cannot be counted locally), limited/unlimited with the limit (hours
with at most 2 decimals), SLA names (from the synced cache, plus names typed
that are not synced yet) and the target (default 100).

Invalid JQL may be saved (as in the original product): the dialog warns and
the clause counts nothing until it is fixed.  Every other rule comes from
:mod:`tickets.rules` (through :mod:`tui.validators`).

Keys: Ctrl+S (or Enter in a field) OK, Escape cancel.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, SelectionList, Static, Switch
from textual.widgets.selection_list import Selection

from tickets import rules
from tickets.jql import JqlSyntaxError, format_error, parse
from tickets.model import Clause, ClauseType, seconds_to_hours
from tui import validators
from tui.screens.dialogs import keep_text_on_focus
from tui.workers import run_db

CLAUSE_TYPE_LABELS = {
    ClauseType.ISSUE_COUNT: "Number of issues",
    ClauseType.SERVICE_HOURS: "Total service hours",
    ClauseType.SLA_SUCCESS_RATE: "SLA success rate",
}
COUNT_DEBOUNCE = 0.35  # seconds between the last keystroke and the count query


def decimal_text(d: Decimal) -> str:
    """``12.50`` -> ``12.5``, ``100`` -> ``100`` (no exponent)."""
    text = format(d.normalize(), "f")
    return text


def units_input_text(clause_type: ClauseType, units: int) -> str:
    """Model units as typed by a user: issues, or hours."""
    if clause_type is ClauseType.SERVICE_HOURS:
        return decimal_text(seconds_to_hours(units))
    return str(units)


def units_text(clause_type: ClauseType, units: int, *, signed: bool = False) -> str:
    """``10 issues`` / ``12.5 h`` (``+`` sign with ``signed``)."""
    sign = "+" if signed and units > 0 else ""
    if clause_type is ClauseType.SERVICE_HOURS:
        return f"{sign}{units_input_text(clause_type, units)} h"
    word = "issue" if abs(units) == 1 else "issues"
    return f"{sign}{units} {word}"


def limit_text(clause: Clause) -> str:
    """The Clauses table's limit/target column."""
    if clause.type is ClauseType.SLA_SUCCESS_RATE:
        target = clause.target if clause.target is not None else rules.DEFAULT_TARGET
        return f"target {decimal_text(target)}%"
    if clause.limit is None:
        return "unlimited"
    return units_text(clause.type, clause.limit)


def jql_feedback(query: str) -> tuple[bool, Text]:
    """``(parses, text)``: ``✓ parses`` or the error message with the query line and a caret under the position."""
    if not query.strip():
        return True, Text("empty JQL: the clause matches no issue until a query is given", style="italic")
    try:
        parse(query)
    except JqlSyntaxError as err:
        text = Text()
        text.append(f"✗ {err.message}\n", style="bold red")
        text.append(format_error(query, err))
        return False, text
    return True, Text("✓ the JQL parses", style="green")


class ClauseDialog(ModalScreen[Clause | None]):
    """Add or edit one clause; dismisses with the new :class:`Clause` or ``None``."""

    HELP_TITLE = "Clause"
    BINDINGS = [
        Binding("ctrl+s", "ok", "OK"),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    ClauseDialog { align: center middle; }
    ClauseDialog > #clause-box { width: 92; max-width: 100%; height: auto; max-height: 100%;
                                 border: round $accent; background: $surface; padding: 0 1; }
    ClauseDialog .field { height: 1; margin-top: 1; }
    ClauseDialog .field > Label { width: 14; }
    ClauseDialog .field > Input { width: 1fr; }
    ClauseDialog .field > Select { width: 30; }
    ClauseDialog .field > Switch { width: 6; height: 1; border: none; padding: 0; }
    ClauseDialog .field > Label.unit { padding-left: 1; width: auto; color: $text-muted; }
    ClauseDialog .field-error { color: $error; height: auto; padding-left: 14; }
    ClauseDialog #jql-feedback { height: auto; padding-left: 14; }
    ClauseDialog #jql-matches { height: auto; padding-left: 14; color: $text-muted; }
    ClauseDialog #quota-fields, ClauseDialog #sla-fields { height: auto; }
    ClauseDialog #sla-title { margin-top: 1; }
    ClauseDialog #clause-sla { height: 5; border: none; padding: 0; margin-left: 14; width: 1fr; }
    ClauseDialog #clause-messages { height: auto; margin-top: 1; }
    ClauseDialog #clause-buttons { height: 1; margin-top: 1; align-horizontal: right; }
    ClauseDialog #clause-buttons Button { margin-left: 1; }
    /* fewer than SHORT_HEIGHT rows (80x24): no blank line between fields, so OK / Cancel stay on screen */
    ClauseDialog.short .field, ClauseDialog.short #sla-title, ClauseDialog.short #clause-messages { margin-top: 0; }
    """
    SHORT_HEIGHT = 30

    def __init__(self, clause: Clause | None, *, other_names: Sequence[str] = (),
                 sla_names: Sequence[str] = (), today: dt.date | None = None) -> None:
        super().__init__()
        self.clause = clause
        self.other_names = list(other_names)
        self.sla_names = list(sla_names)
        self.today = today
        self.count_text = ""  # the last count shown (tests read it)
        self._count_timer: Timer | None = None
        self._warned_jql: str | None = None
        self.current_type = clause.type if clause else ClauseType.ISSUE_COUNT

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        c = self.clause
        ctype = c.type if c else ClauseType.ISSUE_COUNT
        with Vertical(id="clause-box") as box:
            box.border_title = f"Clause: {c.name}" if c else "New clause"
            with Horizontal(classes="field"):
                yield Label("Name")
                yield Input(c.name if c else "", id="clause-name", compact=True, placeholder="e.g. High priority tickets",
                            validators=[validators.clause_name(lambda: self.other_names)])
            yield Static("", id="clause-name-error", classes="field-error", markup=False)
            with Horizontal(classes="field"):
                yield Label("Type")
                yield Select([(label, t.value) for t, label in CLAUSE_TYPE_LABELS.items()], value=ctype.value,
                             allow_blank=False, id="clause-type", compact=True)
            with Horizontal(classes="field"):
                yield Label("JQL")
                yield Input(c.jql if c else "", id="clause-jql", compact=True, placeholder="project = ABC AND priority >= High")
            yield Static("", id="jql-feedback")
            yield Static("", id="jql-matches", markup=False)
            with Vertical(id="quota-fields"):
                with Horizontal(classes="field"):
                    yield Label("Limited")
                    yield Switch(value=(c.limit is not None) if c and ctype.has_quota else True, id="clause-limited")
                    yield Label("off = unlimited (counted, never over)", classes="unit")
                with Horizontal(classes="field", id="limit-row"):
                    yield Label("Limit")
                    yield Input(units_input_text(ctype, c.limit) if c and c.limit is not None and ctype.has_quota else "",
                                id="clause-limit", compact=True,
                                validators=[validators.limit(self.clause_type)])
                    yield Label(self._unit_word(ctype), id="limit-unit", classes="unit")
                yield Static("", id="clause-limit-error", classes="field-error", markup=False)
            with Vertical(id="sla-fields"):
                yield Label("SLAs (from the synced cache; Space toggles)", id="sla-title")
                known = set(self.sla_names)
                chosen = list(c.sla) if c else []
                yield SelectionList[str](*[Selection(n, n, n in chosen) for n in self.sla_names], id="clause-sla")
                with Horizontal(classes="field"):
                    yield Label("Other SLAs")
                    yield Input(", ".join(n for n in chosen if n not in known), id="clause-sla-other", compact=True,
                                placeholder="names not synced yet, comma-separated",
                                validators=[validators.sla_names()])
                yield Static("", id="clause-sla-other-error", classes="field-error", markup=False)
                with Horizontal(classes="field"):
                    yield Label("Target %")
                    target = c.target if c and c.target is not None else rules.DEFAULT_TARGET
                    yield Input(decimal_text(target), id="clause-target", compact=True,
                                validators=[validators.target()])
                yield Static("", id="clause-target-error", classes="field-error", markup=False)
            yield Static("", id="clause-messages")
            with Horizontal(id="clause-buttons"):
                yield Button("OK (Ctrl+S)", id="clause-ok", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="clause-cancel", compact=True)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < self.SHORT_HEIGHT, "short")

    def on_mount(self) -> None:
        keep_text_on_focus(self)
        self.set_class(self.app.size.height < self.SHORT_HEIGHT, "short")
        self._apply_type()
        self._update_jql()
        self.query_one("#clause-name", Input).focus()
        for field_id in ("clause-name", "clause-limit", "clause-target", "clause-sla-other"):
            if self.query_one(f"#{field_id}", Input).value:
                self._validate_field(field_id)

    # --- helpers ---------------------------------------------------------------------------
    def clause_type(self) -> ClauseType:
        return self.current_type

    @staticmethod
    def _unit_word(ctype: ClauseType) -> str:
        return "hours (at most 2 decimals)" if ctype is ClauseType.SERVICE_HOURS else "issues"

    def _apply_type(self) -> None:
        ctype = self.clause_type()
        self.query_one("#quota-fields").display = ctype.has_quota
        self.query_one("#sla-fields").display = not ctype.has_quota
        self.query_one("#limit-unit", Label).update(self._unit_word(ctype))
        limited = self.query_one("#clause-limited", Switch).value
        self.query_one("#limit-row").display = limited
        self.query_one("#clause-limit-error").display = limited
        if self.query_one("#clause-limit", Input).value:
            self._validate_field("clause-limit")

    def _validate_field(self, field_id: str) -> str | None:
        widget = self.query_one(f"#{field_id}", Input)
        problem = validators.first_problem(widget.validators, widget.value)
        widget.set_class(problem is not None, "-invalid")
        error = self.query_one(f"#{field_id}-error", Static)
        error.update(problem or "")
        error.display = problem is not None
        return problem

    def _message(self, text: str | Text, *, error: bool = False, warning: bool = False) -> None:
        widget = self.query_one("#clause-messages", Static)
        widget.update(Text(text) if isinstance(text, str) else text)
        widget.set_class(error, "error")
        widget.set_class(warning and not error, "warning")

    # --- live JQL feedback -----------------------------------------------------------------
    def _update_jql(self) -> None:
        query = self.query_one("#clause-jql", Input).value
        _ok, text = jql_feedback(query)
        self.query_one("#jql-feedback", Static).update(text)
        self.query_one("#jql-matches", Static).update("counting cached issues…")
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DEBOUNCE, lambda: self._start_count(query))

    def _start_count(self, query: str) -> None:
        from cache.membership import count_matches

        if not query.strip():
            self._show_count(query, "no query: matches nothing")
            return
        run_db(self, count_matches, query, today=self.today,
               on_done=lambda result: self._show_count(query, result),
               on_error=lambda exc: self._show_count(query, f"cannot count: {exc}"),
               group="clause-count", exclusive=True)

    def _show_count(self, query: str, result: int | str) -> None:
        if query != self.query_one("#clause-jql", Input).value:
            return  # a newer query is on its way
        if isinstance(result, int):
            text = f"matches {result} cached issue{'s' if result != 1 else ''}"
        elif not jql_feedback(query)[0]:
            text = "cannot be counted locally: invalid JQL (see above)"
        else:
            text = f"cannot be counted locally: {result}"
        self.count_text = text
        self.query_one("#jql-matches", Static).update(text)

    # --- events ------------------------------------------------------------------------------
    @on(Input.Changed, "#clause-jql")
    def _jql_changed(self) -> None:
        self._warned_jql = None
        self._update_jql()

    @on(Input.Changed, "#clause-name, #clause-limit, #clause-target, #clause-sla-other")
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._validate_field(event.input.id)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_ok()

    @on(Select.Changed, "#clause-type")
    def _type_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.current_type = rules.parse_clause_type(event.value)
        self._apply_type()

    @on(Switch.Changed, "#clause-limited")
    def _limited_changed(self) -> None:
        self._apply_type()

    @on(Button.Pressed, "#clause-ok")
    def _ok_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_ok()

    @on(Button.Pressed, "#clause-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    # --- result ---------------------------------------------------------------------------------
    def build(self) -> tuple[Clause | None, list[str]]:
        """The clause as typed, or ``None`` and every problem."""
        problems: list[str] = []
        ctype = self.clause_type()
        name_problem = self._validate_field("clause-name")
        if name_problem:
            problems.append(name_problem)
        name = self.query_one("#clause-name", Input).value.strip()
        jql = self.query_one("#clause-jql", Input).value
        amends = self.clause.amends if self.clause else ()
        limit: int | None = None
        sla: tuple[str, ...] = ()
        target: Decimal | None = None
        if ctype.has_quota:
            limited = self.query_one("#clause-limited", Switch).value
            if limited:
                problem = self._validate_field("clause-limit")
                if problem:
                    problems.append(problem)
                else:
                    limit = rules.parse_limit(ctype, self.query_one("#clause-limit", Input).value)
            for amend in amends:
                problem = rules.check_amend_allowed(ctype, limited, amend.kind)
                if problem:
                    problems.append(f"{problem} (this clause has limit amends; delete them first in its amends)")
                    break
        else:
            if amends:
                problems.append(f"{rules.check_amend_allowed(ctype, False)} (this clause has {len(amends)}; "
                                "delete them first in its amends)")
            other = self.query_one("#clause-sla-other", Input).value
            names = list(self.query_one("#clause-sla", SelectionList).selected)
            names += [n.strip() for n in other.split(",") if n.strip()] if other.strip() else []
            problem = self._validate_field("clause-sla-other") or rules.check_sla(names)
            if problem:
                problems.append(f"SLA {problem}")
            else:
                sla = rules.parse_sla(names)
            problem = self._validate_field("clause-target")
            if problem:
                problems.append(problem)
            else:
                target = rules.parse_target(self.query_one("#clause-target", Input).value)
            amends = ()
        if problems:
            return None, problems
        base = self.clause or Clause(name=name, type=ctype)
        return dataclasses.replace(base, name=name, type=ctype, jql=jql, limit=limit, sla=sla, target=target,
                                   amends=amends), []

    def action_ok(self) -> None:
        clause, problems = self.build()
        if clause is None:
            self._message("Not saved:\n" + "\n".join(f"• {p}" for p in problems), error=True)
            return
        parses, _ = jql_feedback(clause.jql)
        if not parses and self._warned_jql != clause.jql:
            self._warned_jql = clause.jql
            self._message("The JQL does not parse: the clause will be marked invalid and count nothing until it "
                          "is fixed. Press OK again to keep it anyway.", warning=True)
            return
        self.dismiss(clause)

    def action_cancel(self) -> None:
        self.dismiss(None)
