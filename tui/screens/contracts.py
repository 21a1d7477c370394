"""The contract list: the first screen.

One row per contract: name, period type, dates, time zone and the current
period's status per clause (``cache.reports.current_status``: ``ok``,
``at risk: A``, ``over: B``...), with the last sync in the line above the
footer.  Typing in the filter box (``/``) filters in SQL.  Loading runs in
thread workers: the rows first, then the statuses one contract at a time
(``update_cell``), so a long list shows at once.

Keys: n new, e / Enter edit, r report, u summary, p portal preview,
d delete (confirmed), s sync, / filter, q quit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import get_current_worker

from tui.workers import close_thread_connection, run_db

PERIOD_LABELS = {  # short: the Status column gets the rest of the width
    "fixed": "fixed",
    "monthly_calendar": "monthly (cal)",
    "monthly_exact_day": "monthly (day)",
    "annual_calendar": "annual (cal)",
    "annual_exact_day": "annual (day)",
}
PENDING = "…"
NAME_WIDTH = 24  # longer names end in …
STATUS_MIN_WIDTH = 10  # "Status now"; at 80 columns: over / ok / at risk and as much as fits


@dataclass(frozen=True)
class ListRow:
    name: str
    period_type: str
    start: dt.date
    end: dt.date
    time_zone: str
    revision: int


@dataclass(frozen=True)
class ListData:
    rows: list[ListRow]
    total: int
    last_sync: str


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_contracts(text: str) -> ListData:
    """Contracts whose name contains ``text`` (case-insensitively), filtered in SQL; plus the last sync."""
    import peewee as pw

    from cache.models import Contract as ContractModel
    from tickets.rules import name_key

    query = ContractModel.select(ContractModel.name, ContractModel.period_type, ContractModel.start,
                                 ContractModel.end, ContractModel.time_zone, ContractModel.revision)
    key = name_key(text)
    if key:
        query = query.where(pw.NodeList((ContractModel.name_key, pw.SQL("LIKE"), _like_pattern(key),
                                         pw.SQL("ESCAPE '\\'"))))
    rows = [ListRow(r.name, r.period_type, r.start, r.end, r.time_zone, r.revision) for r in query]
    rows.sort(key=lambda r: (r.name.casefold(), r.name))
    total = ContractModel.select().count() if key else len(rows)
    return ListData(rows=rows, total=total, last_sync=last_sync_text())


def last_sync_text() -> str:
    """``last sync: 2026-06-10 12:00 UTC (ok)`` from the newest SyncLog row; ``never synced``."""
    from cache.models import SyncLog

    row = SyncLog.select().order_by(SyncLog.started.desc(), SyncLog.id.desc()).first()
    if row is None:
        return "last sync: never (press s to sync)"
    when = row.finished or row.started
    text = f"last sync: {when:%Y-%m-%d %H:%M} UTC"
    if row.status != "ok":
        text += f" ({row.status})"
    return text


def contract_status(name: str, as_of: dt.date) -> str:
    """The STATUS column: ``cache.reports.current_status``; ``-`` when that is not available."""
    try:
        from cache.reports import current_status
    except ImportError:  # pragma: no cover - only while the module is being written
        return "-"
    try:
        return current_status(name, as_of)
    except Exception as exc:  # one bad contract must not break the list
        return f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def status_cell(status: str) -> Text:
    """The cell keeps the whole status; what does not fit the column ends in …."""
    return Text(status, overflow="ellipsis")


def delete_contract(name: str) -> None:
    from cache.store import delete_contract as _delete

    _delete(name)


class RowTable(DataTable):
    """A row table where Home / End go to the first / last row (DataTable scrolls sideways).

    Over SSH a lead reaches for End to get to the last contract: it must move the cursor, not
    leave it on the first row while the view scrolls."""

    BINDINGS = [
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class ContractListScreen(Screen):
    HELP_TITLE = "Contracts"
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("enter", "edit", "Edit", show=False),
        Binding("r", "report", "Report"),
        Binding("u", "summary", "Summary"),
        Binding("p", "portal", "Portal"),
        Binding("d", "delete", "Delete"),
        Binding("s", "sync", "Sync"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "leave_filter", "Back to the list", show=False),
        Binding("q", "quit", "Quit"),
    ]
    DEFAULT_CSS = """
    ContractListScreen #filter { margin: 0 1; }
    ContractListScreen #contracts { height: 1fr; }
    ContractListScreen #list-empty { height: auto; padding: 1 2; display: none; }
    ContractListScreen #list-info { height: 1; padding: 0 1; color: $text-muted; }
    ContractListScreen #list-message { height: auto; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.data: ListData | None = None
        self.loaded = False  # the first load finished (tests and snapshots wait for it)
        self.statuses_done = False
        self._status_cache: dict[tuple[str, int], str] = {}

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter by name (press / to type here)", id="filter", compact=True)
        table: DataTable = RowTable(id="contracts", cursor_type="row", zebra_stripes=True)
        table.add_column("Name", key="name", width=NAME_WIDTH)
        table.add_column("Period type", key="period", width=max(map(len, PERIOD_LABELS.values())))
        table.add_column("Start", key="start", width=10)
        table.add_column("End", key="end", width=10)
        table.add_column("Status now", key="status", width=STATUS_MIN_WIDTH)  # widened by _fit_status
        yield table
        yield Static("No contracts yet: press n to create one.", id="list-empty")
        yield Static("", id="list-message", markup=False)
        yield Static("loading…", id="list-info", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#contracts", DataTable).focus()
        self.call_after_refresh(self._fit_status)
        self.reload()

    def on_resize(self) -> None:
        self._fit_status()

    def _fit_status(self) -> None:
        """Share the width the fixed columns leave between Name and Status.

        Name gets at least :data:`NAME_WIDTH` and, when there is room, its longest
        name (whole names at 100 columns and more); Status takes the rest (a long
        status ends in …).
        """
        table = self.query_one("#contracts", DataTable)
        if not table.size.width:
            return
        name = table.columns[ColumnKey("name")]
        status = table.columns[ColumnKey("status")]
        fixed = sum(c.get_render_width(table) for key, c in table.columns.items()
                    if key not in (name.key, status.key))
        room = table.size.width - table.styles.scrollbar_size_vertical - fixed - 4 * table.cell_padding
        longest_name = max((len(r.name) for r in self.data.rows), default=0) if self.data is not None else 0
        longest_status = max((len(str(table.get_cell(k, status.key))) for k in table.rows), default=0)
        want_status = max(STATUS_MIN_WIDTH, min(longest_status, 24))  # "over: <clause name>" needs some room
        name_width = max(NAME_WIDTH, min(longest_name, room - want_status))
        widths = [(name, name_width), (status, max(STATUS_MIN_WIDTH, room - name_width))]
        if any(column.width != width for column, width in widths):
            for column, width in widths:
                column.width = width
            for row_key in list(table.rows)[:1]:  # any cell update makes the table re-measure its columns
                table.update_cell(row_key, status.key, table.get_cell(row_key, status.key), update_width=True)
            table.refresh()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()  # back from the editor, a delete, a sync...

    # --- loading --------------------------------------------------------------------------
    def reload(self) -> None:
        text = self.query_one("#filter", Input).value
        run_db(self, query_contracts, text, on_done=self._show, on_error=self._failed,
               group="contracts-list", exclusive=True)

    def _failed(self, exc: BaseException) -> None:
        self.loaded = True
        self.message(f"could not load the contracts: {exc}", error=True)

    def _show(self, data: ListData) -> None:
        self.data = data
        table = self.query_one("#contracts", DataTable)
        selected = self.selected_name()
        wanted = [r.name for r in data.rows]
        existing = [key.value for key in table.rows]
        if existing == wanted:
            for r in data.rows:  # same rows: update the cells in place
                for column, value in self._cells(r).items():
                    table.update_cell(r.name, column, value, update_width=True)
        else:
            table.clear()
            for r in data.rows:
                table.add_row(*self._cells(r).values(), key=r.name)
        if selected in wanted:
            table.move_cursor(row=wanted.index(selected))
        self.query_one("#list-empty", Static).display = data.total == 0
        shown = f"{len(data.rows)} of {data.total} contracts" if len(data.rows) != data.total \
            else f"{data.total} contract{'s' if data.total != 1 else ''}"
        self.query_one("#list-info", Static).update(
            f"{shown} · {data.last_sync} · as of {self.app.today.isoformat()}")
        self.loaded = True
        self.statuses_done = False
        self._fit_status()
        self.load_statuses([(r.name, r.revision) for r in data.rows])

    def _cells(self, r: ListRow) -> dict[str, str]:
        return {
            "name": Text(r.name, overflow="ellipsis"),
            "period": PERIOD_LABELS.get(r.period_type, r.period_type),
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "status": status_cell(self._status_cache.get((r.name, r.revision), PENDING)),
        }

    @work(thread=True, exclusive=True, group="contracts-status")
    def load_statuses(self, names: list[tuple[str, int]]) -> None:
        worker = get_current_worker()
        as_of = self.app.today
        try:
            for name, revision in names:
                if worker.is_cancelled:
                    return
                status = contract_status(name, as_of)
                if worker.is_cancelled:
                    return
                self.app.call_from_thread(self._set_status, name, revision, status)
        finally:
            close_thread_connection()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._statuses_finished)

    def _set_status(self, name: str, revision: int, status: str) -> None:
        self._status_cache[(name, revision)] = status
        table = self.query_one("#contracts", DataTable)
        if name in {key.value for key in table.rows}:
            table.update_cell(name, "status", status_cell(status))

    def _statuses_finished(self) -> None:
        self.statuses_done = True
        self._fit_status()

    # --- helpers -------------------------------------------------------------------------------
    def selected_name(self) -> str | None:
        table = self.query_one("#contracts", DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    def message(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#list-message", Static)
        widget.update(text)
        widget.set_class(error, "error")

    def _need_selection(self) -> str | None:
        name = self.selected_name()
        if name is None:
            self.message("no contract selected (press n to create one)", error=True)
        return name

    # --- events ------------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one("#contracts", DataTable).focus()

    @on(DataTable.RowSelected, "#contracts")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    # --- actions -------------------------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if filter_input.has_focus:
            self.query_one("#contracts", DataTable).focus()

    def action_new(self) -> None:
        self.app.open_editor(None)

    def action_edit(self) -> None:
        if (name := self._need_selection()) is not None:
            self.app.open_editor(name)

    def action_report(self) -> None:
        if (name := self._need_selection()) is not None:
            self.app.open_report(name)

    def action_summary(self) -> None:
        if (name := self._need_selection()) is not None:
            self.app.open_summary(name)

    def action_portal(self) -> None:
        self.app.open_portal_preview(self.selected_name())

    def action_sync(self) -> None:
        self.app.action_sync()

    async def action_quit(self) -> None:
        await self.app.action_quit()

    def action_delete(self) -> None:
        name = self._need_selection()
        if name is None:
            return
        from tui.screens.dialogs import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                run_db(self, delete_contract, name, on_done=lambda _r: self._deleted(name),
                       on_error=lambda exc: self.message(f"could not delete {name!r}: {exc}", error=True),
                       group="contracts-delete")

        self.app.push_screen(
            ConfirmDialog(f"Delete the contract {name!r} with its clauses, amends and portal settings? "
                          "This cannot be undone.", yes="Delete", no="Keep", title="Delete contract"),
            answered)

    def _deleted(self, name: str) -> None:
        self.message(f"deleted {name!r}")
        self.reload()
