"""The current period summary of one contract (what the customer-portal panel shows).

Per clause: available, used, remaining and status; SLA clauses: rate vs
target.  Loaded by ``cache.reports.contract_summary`` in a thread worker;
reloads after a sync (:class:`tui.screens.sync.SyncFinished`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from tickets.render import count_text

DASH = "—"


def _num(v: Any, unit: str | None) -> str:
    if v is None:
        return DASH
    if unit == "hours":
        return f"{Decimal(str(v)):.2f} h"
    return str(v)


def _synced_text(iso: str | None) -> str:
    """``2026-11-24T14:00:47Z`` as the other screens write it: ``2026-11-24 14:00 UTC``."""
    if not iso:
        return "never (F5 syncs)"
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 and iso[10] == "T" else iso


def summary_rows(summary: dict[str, Any], *, compact: bool = False) -> list[tuple[str, str, str, str, str, str]]:
    """(clause, status, available, used, remaining, rate vs target) per clause.

    ``compact`` (a narrow terminal): the rate column leaves out the breached
    count (the report's Breached column has it).
    """
    rows = []
    for c in summary.get("clauses", []):
        status = {"success": "ok", "fail": "FAIL"}.get(c.get("status") or "", DASH)
        if not c.get("valid", True):
            rows.append((c["name"], DASH, DASH, DASH, DASH, f"invalid: {c.get('error') or ''}"))
            continue
        if "unit" in c:
            unit = c["unit"]
            avail = _num(c.get("available"), unit) if c.get("limited") else "unlimited"
            rem = _num(c.get("remaining"), unit) if c.get("limited") else DASH
            rows.append((c["name"], status, avail, _num(c.get("used"), unit), rem, ""))
        else:
            rate = DASH if c.get("rate") is None else f"{Decimal(str(c['rate'])):.2f}%"
            target = f"{Decimal(str(c.get('target'))):.2f}%"
            rows.append((c["name"], status, DASH, count_text(c.get('issues')), DASH,
                         f"{rate} vs {target}" if compact else f"{rate} vs {target} ({c.get('breached')} breached)"))
    return rows


class SummaryScreen(Screen[None]):
    HELP_TITLE = "Current period summary"
    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("o", "report", "Open report"),
        Binding("p", "portal", "Portal preview"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    SummaryScreen #summary-info { padding: 0 1; height: auto; }
    SummaryScreen DataTable { height: auto; max-height: 1fr; margin: 1 0 0 0; }
    """

    def __init__(self, contract_name: str) -> None:
        super().__init__()
        self.contract_name = contract_name
        self.summary: dict[str, Any] | None = None
        self._built_compact: bool | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.contract_name} · loading...", id="summary-info")
        yield DataTable(id="summary-table", cursor_type="row")
        yield Footer()

    #: below this many columns: short headers, one space between columns, no breached count
    COMPACT_BELOW_WIDTH = 100

    def _compact(self) -> bool:
        return self.app.size.width < self.COMPACT_BELOW_WIDTH

    def _fill_table(self) -> None:
        """(Re)build the columns for the terminal's width, then the rows of the summary loaded."""
        compact = self._compact()
        self._built_compact = compact
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.cell_padding = 0 if compact else 1
        labels = (("clause", "Clause"), ("status", "Status"), ("available", "Avail" if compact else "Available"),
                  ("used", "Used"), ("remaining", "Left" if compact else "Remaining"),
                  ("rate", "SLA rate" if compact else "SLA rate vs target"))
        pad = " " if compact else ""
        for key, label in labels:
            table.add_column(pad + label, key=key)
        if self.summary is None:
            return
        for row in summary_rows(self.summary, compact=compact):
            cells = [Text(pad + row[0]), Text(pad + row[1], style="bold red" if row[1] == "FAIL" else "")] + [
                Text(pad + v, justify="right") for v in row[2:5]] + [Text(pad + row[5])]
            table.add_row(*cells)

    def on_resize(self, event) -> None:
        if self._compact() != self._built_compact:
            self._fill_table()

    def on_mount(self) -> None:
        self._fill_table()
        self.sub_title = f"Summary: {self.contract_name}"
        self.query_one(DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from cache.reports import contract_summary
        from tui.screens.report import _close_thread_db

        try:
            summary, error = contract_summary(self.contract_name, self.app.today), None  # type: ignore[attr-defined]
        except Exception as exc:
            summary, error = None, (str(exc).splitlines() or [type(exc).__name__])[0]
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._loaded, summary, error)

    def _loaded(self, summary: dict[str, Any] | None, error: str | None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        info = self.query_one("#summary-info", Static)
        if summary is None:
            info.update(f"[red]{error}[/]")
            return
        self.summary = summary
        p = summary.get("period")
        if p is None:
            where = "the contract has not started"
        else:
            where = f"period {p['index'] + 1} of {p['count']}: {p['start']} – {p['end']}"
            if summary.get("ended"):
                where += " (contract ended)"
        info.update(f"[b]{summary['contract']}[/] · {where} · as of {summary['as_of']} · "
                    f"synced {_synced_text(summary.get('synced_at'))}")
        self._fill_table()

    def action_reload(self) -> None:
        self.load()

    def on_sync_finished(self, event) -> None:
        self.load()

    def action_report(self) -> None:
        self.app.open_report(self.contract_name)  # type: ignore[attr-defined]

    def action_portal(self) -> None:
        self.app.open_portal_preview(self.contract_name)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.dismiss(None)
