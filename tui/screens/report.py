"""The contract report: one tab per clause, a table of periods, live policy switches.

* Loading (membership refresh, measuring: database work) runs in a thread
  worker; the screen shows "Loading" and stays responsive.
* ``c`` / ``b`` flip carry-over / borrowing.  The figures are recomputed at
  once with :meth:`tickets.report.Report.with_policies` (only the ledger:
  no measuring, no database) and the cells change in place
  (``DataTable.update_cell``).  While the switches differ from the contract a
  "Preview — not saved" banner shows; ``w`` writes the policies to the
  contract (``cache.store.save_contract`` with the revision loaded: a
  concurrent change is refused plainly, ``r`` reloads).
* Enter on a period lists the issues it counts (:class:`PeriodIssuesScreen`);
  Enter there opens the issue view.
* ``x`` exports the report as shown (switches included) to CSV
  (``tickets.render.render_report_csv``) and JSON
  (``tickets.report.report_to_json``).
* Per clause, a one-line chart: one block per period, its height the share of
  the available quota used (red when over); SLA clauses: the success rate
  (red below target).
* A finished sync (:class:`tui.screens.sync.SyncFinished`) reloads the report.

Cells: issues as integers, hours with 2 decimals; future periods show ``—``
except their limit and amends; the current period is marked ``▶`` and bold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import pathlib
import re
from decimal import Decimal
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widget import MountError
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    LoadingIndicator,
    Static,
    Switch,
    TabbedContent,
    TabPane,
)

from tickets.model import ClauseType, seconds_to_hours
from tickets.render import count_text
from tickets.report import ClauseReport, QuotaRow, Report, SlaRow, rate_percent

DASH = "—"
BLOCKS = " ▁▂▃▄▅▆▇█"

QUOTA_COLUMNS = (
    ("period", "Period"), ("limit", "Limit"), ("amends", "Amends"), ("carried_in", "Carry in"),
    ("debt_in", "Debt in"), ("available", "Available"), ("used", "Used"), ("remaining", "Remaining"),
    ("over", "Over"), ("status", "Status"),
)
# Narrow terminals: shorter headers below 120 columns, and below 100 Carry and Debt only while their
# policy is on, so Over and Status stay on screen at 100x30 and 80x24 (with the policies off).
COMPACT_LABELS = {"amends": "Amend", "carried_in": "Carry", "debt_in": "Debt", "available": "Avail",
                  "remaining": "Left"}
COMPACT_LABELS_BELOW_WIDTH = 120
COMPACT_BELOW_WIDTH = 100
UNLIMITED_COLUMNS = (("period", "Period"), ("issues", "Issues"), ("used", "Used"), ("status", "Status"))
SLA_COLUMNS = (("period", "Period"), ("issues", "Issues"), ("breached", "Breached"), ("rate", "Rate"),
               ("target", "Target"), ("status", "Status"))


# --- cell text (pure; the tests compute their expectations independently) -------------


def units_text(t: ClauseType, units: int | None, *, signed: bool = False) -> str:
    """Issues as an integer, seconds as hours with 2 decimals; None as —."""
    if units is None:
        return DASH
    if t is ClauseType.SERVICE_HOURS:
        text = f"{seconds_to_hours(units):.2f}"
    else:
        text = str(units)
    return f"+{text}" if signed and units > 0 else text


def percent_text(d: Decimal | None) -> str:
    return DASH if d is None else f"{d:.2f}%"


def status_text(s: str | None) -> str:
    return {"success": "ok", "fail": "FAIL"}.get(s or "", DASH)


def period_text(start: dt.date, end: dt.date, *, short: bool = False) -> str:
    """``2025-03-01…03-31``; across years ``2025-04-16…2026-04-15`` (``…26-04-15`` when short)."""
    if start.year == end.year:
        return f"{start:%Y-%m-%d}…{end:%m-%d}"
    return f"{start:%Y-%m-%d}…{end:%y-%m-%d}" if short else f"{start:%Y-%m-%d}…{end:%Y-%m-%d}"


def quota_cells(c: ClauseReport, r: QuotaRow) -> dict[str, str]:
    """The text of each cell of one quota period (keys: the column keys)."""
    t = c.type
    if not c.limited:
        if r.future:
            return {"issues": DASH, "used": DASH, "status": DASH}
        return {"issues": DASH if r.issues is None else str(r.issues), "used": units_text(t, r.total_used),
                "status": status_text(r.status)}
    cells = {"limit": units_text(t, r.limit), "amends": units_text(t, r.limit_amends, signed=True)}
    if r.future:
        cells.update(dict.fromkeys(("carried_in", "debt_in", "available", "used", "remaining", "over", "status"),
                                   DASH))
        return cells
    cells.update({
        "carried_in": units_text(t, r.carried_in), "debt_in": units_text(t, r.debt_in),
        "available": units_text(t, r.available), "used": units_text(t, r.total_used),
        "remaining": units_text(t, r.remaining), "over": units_text(t, r.over), "status": status_text(r.status),
    })
    return cells


def sla_cells(c: ClauseReport, r: SlaRow) -> dict[str, str]:
    target = c.clause.target if c.clause.target is not None else Decimal(100)
    if r.future:
        return {"issues": DASH, "breached": DASH, "rate": DASH, "target": percent_text(target), "status": DASH}
    return {"issues": str(r.issues) if r.issues is not None else DASH,
            "breached": str(r.breached) if r.breached is not None else DASH,
            "rate": percent_text(rate_percent(r.rate)), "target": percent_text(target),
            "status": status_text(r.status)}


def row_cells(c: ClauseReport, r: QuotaRow | SlaRow) -> dict[str, str]:
    return sla_cells(c, r) if isinstance(r, SlaRow) else quota_cells(c, r)


def columns_for(c: ClauseReport) -> tuple[tuple[str, str], ...]:
    if c.type is ClauseType.SLA_SUCCESS_RATE:
        return SLA_COLUMNS
    return QUOTA_COLUMNS if c.limited else UNLIMITED_COLUMNS


def chart_text(c: ClauseReport, current: int | None) -> Text:
    """One block per period: used / available (quota), rate (SLA); red = fails; · = future."""
    out = Text()
    for r in c.rows:
        style = "bold underline" if r.index == current else ""
        if r.future or r.status is None:
            out.append("·", style=style or "dim")
            continue
        if isinstance(r, SlaRow):
            share = float(r.rate) if r.rate is not None else 1.0
        elif c.limited:
            avail, used = r.available or 0, r.total_used or 0
            share = 1.0 if avail <= 0 and used > 0 else (0.0 if avail <= 0 else used / avail)
        else:
            peak = max((x.total_used or 0) for x in c.rows) or 1
            share = (r.total_used or 0) / peak
        level = max(0, min(8, round(min(share, 1.0) * 8)))
        if share > 0 and level == 0:
            level = 1
        colour = "red" if r.status == "fail" else ("green" if isinstance(r, SlaRow) or c.limited else "cyan")
        out.append(BLOCKS[level] if level else "▁", style=f"{colour} {style}".strip())
    return out


def chart_caption(c: ClauseReport) -> str:
    if c.type is ClauseType.SLA_SUCCESS_RATE:
        return "success rate per period (full = 100 %, red = below target, · = future)"
    if c.limited:
        return "used / available per period (full = all used, red = over, · = future)"
    return "used per period (relative to the busiest period, · = future)"


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-._")
    return s or "report"


# --- the drill-down query (thread worker) ------------------------------------------------


def period_issues(contract_id: int, contract: Any, clause: Any, period: Any) -> list[dict[str, Any]]:
    """The issues a clause counts in a period: key, summary, created, hours, SLA outcome.

    ``ClauseMatch`` rows (kept by ``cache.membership``) of the clause's stored
    row whose issue was created in ``[period.start_utc, period.end_utc)``,
    the issue's worklog hours (all its worklogs, like the measurement) and,
    for SLA clauses, ``breached`` / ``met`` / ``n/a`` over the clause's SLAs.
    """
    import peewee as pw

    from cache.measure import clause_ids, naive_utc
    from cache.models import ClauseMatch, Issue, SlaCycle, Worklog

    ids = clause_ids(contract_id, contract)
    cid = ids[clause.name]
    w = Worklog.alias("w")
    secs = (w.select(pw.fn.COALESCE(pw.fn.SUM(w.time_spent_seconds), 0)).where(w.issue == Issue.id))
    rows = list(Issue.select(Issue.id, Issue.key, Issue.summary, Issue.created, secs.alias("secs"))
                .join(ClauseMatch, on=(ClauseMatch.issue == Issue.id))
                .where((ClauseMatch.clause == cid) & (Issue.created >= naive_utc(period.start_utc))
                       & (Issue.created < naive_utc(period.end_utc)))
                .order_by(Issue.created, Issue.id).dicts())
    outcomes: dict[int, str] = {}
    if clause.type is ClauseType.SLA_SUCCESS_RATE and rows and clause.sla:
        found: dict[int, bool] = {}
        ids_ = [r["id"] for r in rows]
        for start in range(0, len(ids_), 500):
            for iid, breached in (SlaCycle.select(SlaCycle.issue, SlaCycle.breached)
                                  .where(SlaCycle.issue.in_(ids_[start:start + 500])
                                         & SlaCycle.sla_name.in_(list(clause.sla))).tuples()):
                found[iid] = found.get(iid, False) or bool(breached)
        outcomes = {iid: ("breached" if b else "met") for iid, b in found.items()}
    out = []
    for r in rows:
        created = r["created"]
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        out.append({"key": r["key"], "summary": r["summary"] or "", "created": created,
                    "seconds": int(r["secs"] or 0),
                    "sla": outcomes.get(r["id"], "n/a") if clause.type is ClauseType.SLA_SUCCESS_RATE else ""})
    return out


def _close_thread_db() -> None:
    from cache.db import database

    try:
        if database.obj is not None:
            database.obj.close()
    except Exception:
        pass


# --- the screen ----------------------------------------------------------------------------


class ReportScreen(Screen[None]):
    HELP_TITLE = "Contract report"
    BINDINGS = [
        Binding("c", "toggle_carry_over", "Carry-over"),
        Binding("b", "toggle_borrowing", "Borrowing"),
        Binding("w", "write_policies", "Write policies"),
        Binding("x", "export", "Export"),
        Binding("r", "reload", "Reload"),
        Binding("s", "summary", "Summary"),
        Binding("p", "portal", "Portal preview", show=False),
        Binding("enter", "drill", "Issues of period", show=False),
        Binding("1", "clause_tab(0)", "Clause tab 1-9", show=False),
        *[Binding(str(n), f"clause_tab({n - 1})", "", show=False) for n in range(2, 10)],
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    ReportScreen #report-info { padding: 0 1; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ReportScreen #report-policies { height: 1; padding: 0 1; }
    ReportScreen #report-policies Switch { height: 1; border: none; padding: 0; margin: 0 1 0 0; width: auto; }
    ReportScreen #report-policies Label { margin: 0 3 0 0; }
    ReportScreen #report-preview { color: $warning; text-style: bold; width: 1fr; }
    ReportScreen #report-preview.saved { color: $text-muted; text-style: none; }
    ReportScreen #report-message { padding: 0 1; height: auto; }
    ReportScreen TabbedContent { height: 1fr; }
    ReportScreen TabPane { padding: 0; }
    ReportScreen .clause-info { padding: 0 1; height: 1; color: $text-muted; text-wrap: nowrap;
                                text-overflow: ellipsis; }
    ReportScreen .clause-error { padding: 1 1; color: $error; text-style: bold; }
    ReportScreen DataTable { height: auto; max-height: 1fr; }
    ReportScreen .clause-chart { padding: 0 1; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ReportScreen LoadingIndicator { height: 3; }
    """

    def __init__(self, contract_name: str) -> None:
        super().__init__()
        self.contract_name = contract_name
        self.contract_id: int | None = None
        self.revision: int | None = None
        self.base: Report | None = None  # computed with the contract's own policies
        self.shown: Report | None = None  # what the cells show now
        self._building = False
        self._keep_preview = False  # a reload after a sync keeps the switches; r resets them
        self._built_layout: tuple[bool, bool] | None = None  # (compact, short labels) of the tables shown
        self._build_lock = asyncio.Lock()  # one table build at a time (load, policy flip, resize)
        self._leaving = False  # Esc pressed: no new build

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.contract_name}", id="report-info")
        with Horizontal(id="report-policies"):
            yield Switch(value=False, id="switch-carry-over", disabled=True)
            yield Label("Carry-over (c)", id="label-carry-over")
            yield Switch(value=False, id="switch-borrowing", disabled=True)
            yield Label("Borrowing (b)", id="label-borrowing")
            yield Static("", id="report-preview")
        yield Static("", id="report-message")
        yield LoadingIndicator(id="report-loading")
        yield TabbedContent(id="report-tabs")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Report"
        self.load()

    # -- loading (thread worker) ---------------------------------------------------------
    @work(thread=True, exclusive=True, group="report-load")
    def load(self) -> None:
        from cache.reports import report_for
        from cache.store import load_contract_with_revision
        from tickets.errors import TicketbookError

        today = self.app.today  # type: ignore[attr-defined]
        try:
            cid, rev, contract = load_contract_with_revision(self.contract_name)
            report = report_for(cid, contract, as_of=today)
            outcome: tuple = (cid, rev, report, None)
        except TicketbookError as exc:
            outcome = (None, None, None, str(exc).splitlines()[0] if str(exc) else "cannot load the report")
        except Exception as exc:  # a bug: one line, not a crash of the whole app
            outcome = (None, None, None, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._loaded, *outcome)

    async def _loaded(self, cid, rev, report: Report | None, error: str | None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        self.query_one("#report-loading").display = False
        if error is not None or report is None:
            self._message(error or "cannot load the report", error=True)
            return
        self.contract_id, self.revision = cid, rev
        keep = self._keep_preview and self.shown is not None and self.base is not None and (
            self.shown.carry_over, self.shown.borrowing) != (self.base.carry_over, self.base.borrowing)
        co, bo = (self.shown.carry_over, self.shown.borrowing) if keep and self.shown else (
            report.carry_over, report.borrowing)
        self.shown = report.with_policies(co, bo)
        await self._build_tabs()
        self.base = report  # set last: the screen is ready
        self._set_switches(co, bo)
        self._update_info()
        self._update_preview()
        self._message("")

    def on_resize(self, event: events.Resize) -> None:
        # crossing COMPACT_BELOW_WIDTH (or the short-label width) changes columns and spacing: rebuild
        if self.shown is not None and self._layout_key() != self._built_layout:
            self._built_layout = self._layout_key()  # one rebuild per change, however many Resize events
            self.run_worker(self._build_tabs(), exclusive=True, group="report-build")

    def _layout_key(self) -> tuple[bool, bool]:
        return self._compact(), self.app.size.width < COMPACT_LABELS_BELOW_WIDTH

    async def _build_tabs(self) -> None:
        """(Re)build one tab per clause from ``self.shown``.

        Builds come from a load, a policy flip that changes the columns and a
        resize: they run one at a time (a lock), each from the latest
        ``shown``.  A build cut short because the screen is being closed
        (Esc during a resize) stops quietly instead of failing the app.
        """
        async with self._build_lock:
            if self._leaving or not self.is_attached or self.shown is None:
                return
            report = self.shown
            self._built_layout = self._layout_key()
            self._building = True
            try:
                tabs = self.query_one("#report-tabs", TabbedContent)
                active = tabs.active
                await tabs.clear_panes()
                for i, c in enumerate(report.clauses):
                    pane = TabPane(f"{i + 1} {c.name}", id=f"clause-{i}")
                    await tabs.add_pane(pane)
                    await pane.mount_all(self._clause_widgets(i, c))
                if not report.clauses:
                    await tabs.add_pane(TabPane("no clauses", Static("This contract has no clauses."),
                                                id="clause-none"))
                if active and any(p.id == active for p in tabs.query(TabPane)):
                    tabs.active = active
            except (MountError, NoMatches, ValueError):  # ValueError: "No Tab with id ..." (Tabs)
                if self._going_away():
                    return
                raise
            finally:
                self._building = False
            self._focus_table()

    def _going_away(self) -> bool:
        """The screen left the stack or is being dismissed (its widgets are going away)."""
        return not self.is_attached or self not in self.app.screen_stack

    def _clause_widgets(self, i: int, c: ClauseReport) -> list:
        widgets: list = [Static(self._clause_info(c), classes="clause-info", id=f"info-{i}")]
        if not c.valid:
            widgets.append(Static(f"Invalid clause: {c.error or 'invalid'}", classes="clause-error"))
            return widgets
        # narrow: one space between columns (each cell starts with it) instead of two,
        # so the ten columns of an hours clause with both policies on still fit 80 columns
        compact = self._compact()
        table: DataTable = DataTable(id=f"table-{i}", cursor_type="row", zebra_stripes=False, fixed_columns=1,
                                     cell_padding=0 if compact else 1)
        short = self.app.size.width < COMPACT_LABELS_BELOW_WIDTH
        for key, label in self._columns(c):
            label = COMPACT_LABELS.get(key, label) if short else label
            table.add_column(f" {label}" if compact else label, key=key)
        for r in c.rows:
            table.add_row(*self._styled_row(c, r), key=f"p{r.index}")
        widgets.append(table)
        widgets.append(Static(self._chart(c), classes="clause-chart", id=f"chart-{i}"))
        return widgets

    def _compact(self) -> bool:
        return self.app.size.width < COMPACT_BELOW_WIDTH

    def _columns(self, c: ClauseReport, report: Report | None = None) -> tuple[tuple[str, str], ...]:
        """The columns shown for a clause: on a narrow terminal, Carry and Debt only when their policy is on
        (they are always 0 otherwise) and Amend only when a limit amend exists, so Over and Status stay on
        screen at 80 columns."""
        report = report or self.shown
        cols = columns_for(c)
        if report is None or not self._compact():
            return cols
        hidden = set()
        if not report.carry_over:
            hidden.add("carried_in")
        if not report.borrowing:
            hidden.add("debt_in")
        if not any(getattr(r, "limit_amends", 0) for r in c.rows):  # no limit amend: a column of zeros
            hidden.add("amends")
        return tuple((k, label) for k, label in cols if k not in hidden)

    def _styled_row(self, c: ClauseReport, r: QuotaRow | SlaRow) -> list:
        assert self.shown is not None
        current = r.index == self.shown.current_period
        cells = row_cells(c, r)
        compact = self._compact()
        pad = " " if compact else ""  # compact tables: one space before each cell, no cell padding
        out = []
        for key, _label in self._columns(c):
            if key == "period":
                text = pad + ("▶ " if current else "  ") + period_text(r.start, r.end, short=compact)
            else:
                text = pad + cells[key]
            style = "bold" if current else ("dim" if r.future else "")
            if key == "status" and cells.get("status") == "FAIL":
                style = (style + " red").strip()
            out.append(Text(text, style=style, justify="left" if key == "period" else "right"))
        return out

    def _chart(self, c: ClauseReport) -> Text:
        assert self.shown is not None
        t = Text("Chart ")
        t.append_text(chart_text(c, self.shown.current_period))
        t.append(f"  {chart_caption(c)}", style="dim")
        return t

    def _clause_info(self, c: ClauseReport) -> str:
        cl = c.clause
        t = cl.type
        if t is ClauseType.SLA_SUCCESS_RATE:
            target = cl.target if cl.target is not None else Decimal(100)
            what = f"SLA success rate of {', '.join(cl.sla) or '(no SLA)'}, target {target}%"
        elif c.limited:
            unit = "h" if t is ClauseType.SERVICE_HOURS else ("issue" if cl.limit == 1 else "issues")
            what = f"{t.value}, limit {units_text(t, cl.limit)} {unit} per period"
        else:
            what = f"{t.value}, unlimited"
        parts = [what, f"JQL: {cl.jql}"]
        if c.evaluated_by:
            parts.append(f"evaluated by {c.evaluated_by}")
        if getattr(c, "outside_amends", ()):
            parts.append(f"{len(c.outside_amends)} amend(s) outside the contract (counted nowhere)")
        return " · ".join(parts)

    def _update_info(self) -> None:
        assert self.base is not None
        r = self.base
        k = r.contract
        bits = [f"[b]{k.name}[/]", k.period_type.value.replace("_", " "), f"{k.start} – {k.end}"]
        if r.current_period is not None:
            bits.append(f"period {r.current_period + 1}/{len(r.periods)}")
        elif r.as_of > k.end:
            bits.append("ended")
        else:
            bits.append("not started")
        self.query_one("#report-info", Static).update(" · ".join(bits))
        synced = r.synced_at.strftime("%Y-%m-%d %H:%M UTC") if r.synced_at else "never (F5 syncs)"
        self.sub_title = f"as of {r.as_of} ({k.time_zone}) · synced {synced}"

    def _set_switches(self, co: bool, bo: bool) -> None:
        for wid, value in (("#switch-carry-over", co), ("#switch-borrowing", bo)):
            sw = self.query_one(wid, Switch)
            sw.disabled = False
            with sw.prevent(Switch.Changed):
                sw.value = value

    def _update_preview(self) -> None:
        co, bo = self._switch_values()
        self.query_one("#label-carry-over", Label).update(f"Carry-over: {'ON' if co else 'off'} (c)")
        self.query_one("#label-borrowing", Label).update(f"Borrowing: {'ON' if bo else 'off'} (b)")
        label = self.query_one("#report-preview", Static)
        if self.base is None or self.shown is None:
            label.update("")
            return
        k = self.base.contract
        differs = (self.shown.carry_over, self.shown.borrowing) != (k.carry_over, k.borrowing)
        label.set_class(not differs, "saved")
        if differs:
            label.update("Preview, unsaved (w saves)" if self._compact() else "Preview — not saved (w saves)")
        else:
            label.update("as saved in the contract")

    def _message(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one("#report-message", Static)
        msg.set_class(error, "error")
        msg.update(text)

    def _focus_table(self) -> None:
        tabs = self.query_one("#report-tabs", TabbedContent)
        pane_id = tabs.active
        if not pane_id or self.shown is None:
            return
        try:
            table = self.query_one(f"#{pane_id} DataTable", DataTable)
        except Exception:
            return
        if self.shown.current_period is not None and self.shown.current_period < table.row_count:
            table.move_cursor(row=self.shown.current_period, animate=False)
        table.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if not self._building:
            self.call_after_refresh(self._focus_table)

    # -- policies: recompute at once, update cells in place -------------------------------
    def apply_policies(self, carry_over: bool, borrowing: bool) -> None:
        """Show the report under these policies (ledger only; no database)."""
        if self.base is None:
            return
        new = self.base.with_policies(carry_over, borrowing)
        if self.shown is not None and (new.carry_over, new.borrowing) == (self.shown.carry_over,
                                                                           self.shown.borrowing):
            self._update_preview()
            return
        old_columns = [self._columns(c) for c in self.shown.clauses] if self.shown is not None else None
        self.shown = new
        if old_columns is not None and old_columns != [self._columns(c) for c in new.clauses]:
            # A narrow screen shows Carry/Debt only while their policy is on: new columns, new tables.
            self.run_worker(self._build_tabs(), exclusive=True, group="report-build")
            self._update_preview()
            return
        for i, c in enumerate(new.clauses):
            if not c.valid or not c.type.has_quota or not c.limited:
                continue
            try:
                table = self.query_one(f"#table-{i}", DataTable)
            except Exception:
                continue
            for r in c.rows:
                styled = self._styled_row(c, r)
                for (key, _label), cell in zip(self._columns(c), styled):
                    if key != "period":
                        table.update_cell(f"p{r.index}", key, cell, update_width=True)
            self.query_one(f"#chart-{i}", Static).update(self._chart(c))
        self._update_preview()

    def _switch_values(self) -> tuple[bool, bool]:
        return (self.query_one("#switch-carry-over", Switch).value,
                self.query_one("#switch-borrowing", Switch).value)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.apply_policies(*self._switch_values())

    def _toggle(self, switch_id: str) -> None:
        if self.base is None:
            self.notify("The report is still loading.", severity="warning")
            return
        sw = self.query_one(switch_id, Switch)
        with sw.prevent(Switch.Changed):
            sw.value = not sw.value
        self.apply_policies(*self._switch_values())

    def action_toggle_carry_over(self) -> None:
        self._toggle("#switch-carry-over")

    def action_toggle_borrowing(self) -> None:
        self._toggle("#switch-borrowing")

    # -- write the policies to the contract ---------------------------------------------------
    def action_write_policies(self) -> None:
        if self.base is None or self.shown is None:
            return
        k = self.base.contract
        co, bo = self.shown.carry_over, self.shown.borrowing
        if (co, bo) == (k.carry_over, k.borrowing):
            self.notify("The contract already has these policies.")
            return
        self._save(k, co, bo, self.revision)

    @work(thread=True, exclusive=True, group="report-save")
    def _save(self, contract, co: bool, bo: bool, revision: int | None) -> None:
        from cache.store import ConflictError, save_contract
        from tickets.errors import TicketbookError

        new = dataclasses.replace(contract, carry_over=co, borrowing=bo)
        try:
            rev = save_contract(new, expected_revision=revision)
            outcome: tuple = (new, rev, None)
        except ConflictError as exc:
            outcome = (None, None, f"Not saved: {exc}. Press r to reload, then flip and save again.")
        except TicketbookError as exc:
            outcome = (None, None, f"Not saved: {str(exc).splitlines()[0]}")
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._saved, *outcome)

    def _saved(self, contract, revision, error: str | None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        if error is not None:
            self._message(error, error=True)
            self.notify(error, severity="error", title="Policies")
            return
        assert self.base is not None and self.shown is not None
        self.revision = revision
        self.base = dataclasses.replace(self.shown, contract=contract)
        self.shown = self.base
        self._update_preview()
        on_off = lambda v: "on" if v else "off"  # noqa: E731
        text = (f"Saved: carry-over {on_off(contract.carry_over)}, borrowing {on_off(contract.borrowing)} "
                f"(revision {revision})")
        self._message(text)
        self.notify(text, title="Policies")

    # -- drill-down -------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._drill(event.data_table, event.row_key.value)

    def action_drill(self) -> None:
        tabs = self.query_one("#report-tabs", TabbedContent)
        try:
            table = self.query_one(f"#{tabs.active} DataTable", DataTable)
        except Exception:
            return
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self._drill(table, key)

    def _drill(self, table: DataTable, row_key: str | None) -> None:
        if self.shown is None or self.contract_id is None or not row_key or not table.id:
            return
        i = int(table.id.split("-")[1])
        c = self.shown.clauses[i]
        index = int(row_key[1:])
        self.app.push_screen(PeriodIssuesScreen(self.contract_id, self.shown.contract, c,
                                                self.shown.periods[index], self.contract_name))

    def action_clause_tab(self, n: int) -> None:
        tabs = self.query_one("#report-tabs", TabbedContent)
        if any(p.id == f"clause-{n}" for p in tabs.query(TabPane)):
            tabs.active = f"clause-{n}"
            self.call_after_refresh(self._focus_table)

    # -- export -------------------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.shown is None:
            return

        def chosen(target: str | None) -> None:
            if target is not None:
                self.export_to(target)

        self.app.push_screen(ExportDialog(os.getcwd(), slug(self.contract_name), self.export_paths), chosen)

    def export_paths(self, target: str) -> tuple[pathlib.Path, pathlib.Path]:
        """The CSV and JSON files ``target`` names: ``<dir>/<slug>.csv|.json`` or ``<target>.csv|.json``.

        ``target`` names a directory when it exists as one or ends with a separator (then it is
        created when missing); otherwise it is the path of the files without extension."""
        text = target.strip() or "."
        path = pathlib.Path(os.path.expanduser(text))
        if text.endswith(tuple(filter(None, (os.sep, os.altsep)))) or path.is_dir():
            base = path / slug(self.contract_name)
        else:
            base = path.with_suffix("") if path.suffix.lower() in (".csv", ".json") else path
        return base.with_name(base.name + ".csv"), base.with_name(base.name + ".json")

    def export_to(self, target: str) -> tuple[pathlib.Path, pathlib.Path] | None:
        """Write the report as shown to the files of :meth:`export_paths` (the dialog asked before
        overwriting existing ones)."""
        from tickets.render import render_report_csv
        from tickets.report import report_to_json

        assert self.shown is not None
        where: Any = target
        try:  # ValueError: a NUL byte in the path
            csv_path, json_path = self.export_paths(target)
            where = csv_path.parent
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            csv_path.write_text(render_report_csv(self.shown), encoding="utf-8", newline="")
            json_path.write_text(report_to_json(self.shown) + "\n", encoding="utf-8")
        except (OSError, ValueError) as exc:
            text = f"Export failed: {where}: {getattr(exc, 'strerror', None) or exc}"
            self._message(text, error=True)
            self.notify(text, severity="error")
            return None
        text = f"Exported to {csv_path} and {json_path}"
        self._message(text)
        self.notify(text, title="Export")
        return csv_path, json_path

    # -- other actions -----------------------------------------------------------------------------
    def action_reload(self, keep_preview: bool = False) -> None:
        self._keep_preview = keep_preview
        self.query_one("#report-loading").display = True
        self._message("Reloading...")
        self.load()

    def on_sync_finished(self, event) -> None:
        if getattr(event, "status", None) in ("ok", "cancelled"):
            self.action_reload(keep_preview=True)

    def action_summary(self) -> None:
        self.app.open_summary(self.contract_name)  # type: ignore[attr-defined]

    def action_portal(self) -> None:
        self.app.open_portal_preview(self.contract_name)  # type: ignore[attr-defined]

    async def action_back(self) -> None:
        # never tear the screen down in the middle of a table build (Textual's tabs would then
        # refresh a tab already removed): wait for the build, and start no other one
        self._leaving = True
        async with self._build_lock:
            if self in self.app.screen_stack and self.app.screen is self:
                self.dismiss(None)


class ExportDialog(ModalScreen[str | None]):
    """Where to write the CSV and JSON files (a directory, or a path without extension)."""

    HELP_TITLE = "Export"
    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    ExportDialog > Vertical { width: 72; max-width: 100%; height: auto; border: round $accent;
                              background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, directory: str, name: str,
                 paths: Callable[[str], tuple[pathlib.Path, pathlib.Path]] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.name_hint = name
        self.paths = paths
        self._confirmed: tuple | None = None  # the files the user agreed to overwrite

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Export the report as shown[/] (CSV and JSON)")
            yield Static(f"A directory (files {self.name_hint}.csv and .json; end it with / to create it) "
                         "or a path without extension.", classes="muted")
            yield Input(self.directory, id="export-path")
            yield Static("Enter writes · Esc cancels", id="export-hint", classes="muted", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            files = self.paths(event.value) if self.paths is not None else ()
            existing = tuple(str(f) for f in files if f.exists())
        except (OSError, ValueError):  # an unreadable directory, a NUL in the path...: export_to reports it
            existing = ()
        if existing and self._confirmed != existing:
            self._confirmed = existing  # Enter again (same files) overwrites
            names = " and ".join(pathlib.Path(f).name for f in existing)
            self.query_one("#export-hint", Static).update(
                f"{names} already exist{'s' if len(existing) == 1 else ''} in {pathlib.Path(existing[0]).parent}: "
                "Enter again overwrites · change the path · Esc cancels")
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PeriodIssuesScreen(Screen[None]):
    """The issues one clause counts in one period (Enter: the issue view)."""

    HELP_TITLE = "Issues of a period"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("i", "issue", "Issue view"),
    ]
    DEFAULT_CSS = """
    PeriodIssuesScreen #issues-title { padding: 0 1; height: auto; }
    PeriodIssuesScreen DataTable { height: 1fr; }
    """

    def __init__(self, contract_id: int, contract, clause: ClauseReport, period, contract_name: str) -> None:
        super().__init__()
        self.contract_id = contract_id
        self.contract = contract
        self.clause = clause
        self.period = period
        self.contract_name = contract_name
        self.rows: list[dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"[b]{self.contract_name}[/] · {self.clause.name} · "
                     f"{period_text(self.period.start, self.period.end)} · loading...", id="issues-title")
        table: DataTable = DataTable(id="issues-table", cursor_type="row")
        table.add_column("Key", key="key")
        table.add_column("Summary", key="summary")
        table.add_column("Created (UTC)", key="created")
        table.add_column("Hours", key="hours")
        if self.clause.type is ClauseType.SLA_SUCCESS_RATE:
            table.add_column("SLA", key="sla")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Issues of a period"
        self.query_one(DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        try:
            rows = period_issues(self.contract_id, self.contract, self.clause.clause, self.period)
            error = None
        except Exception as exc:
            rows, error = [], f"{type(exc).__name__}: {exc}"
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._loaded, rows, error)

    def _loaded(self, rows: list[dict[str, Any]], error: str | None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        self.rows = rows
        table = self.query_one(DataTable)
        total = 0
        for r in rows:
            total += r["seconds"]
            cells = [r["key"], r["summary"][:60], r["created"].strftime("%Y-%m-%d %H:%M"),
                     Text(f"{seconds_to_hours(r['seconds']):.2f}", justify="right")]
            if self.clause.type is ClauseType.SLA_SUCCESS_RATE:
                cells.append(Text(r["sla"], style="red" if r["sla"] == "breached" else ""))
            table.add_row(*cells, key=r["key"])
        title = (f"[b]{self.contract_name}[/] · {self.clause.name} · "
                 f"{period_text(self.period.start, self.period.end)} · {count_text(len(rows))}, "
                 f"{seconds_to_hours(total):.2f} h")
        if error:
            title += f" · [red]{error}[/]"
        self.query_one("#issues-title", Static).update(title)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.app.open_issue(event.row_key.value)  # type: ignore[attr-defined]

    def action_issue(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key:
                self.app.open_issue(key)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.dismiss(None)
