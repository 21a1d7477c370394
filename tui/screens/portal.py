"""Customer-portal preview: the panels one user would see at one location.

Pick a user (type to search the synced JSM organization members by name,
account id or organization; Enter on a row picks it; or type any account id)
and a location (Help Center, or a portal of a synced service desk), and see
exactly the panels ``cache.reports.portal_panels`` gives: current period
summaries of the contracts whose portal settings show a panel to that user
there.  Anonymous (blank) or unknown users see nothing.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static

from tickets.render import count_text

HELP_CENTER = "__help_center__"


def known_users(search: str = "", limit: int = 200) -> list[tuple[str, str, str]]:
    """(account id, display name, organizations) of synced organization members matching ``search``."""
    from cache.models import Organization, OrganizationUser

    rows: dict[str, list] = {}
    q = (OrganizationUser.select(OrganizationUser.account_id, OrganizationUser.display_name, Organization.name)
         .join(Organization, on=(OrganizationUser.organization == Organization.id))
         .order_by(OrganizationUser.display_name, OrganizationUser.account_id).tuples())
    needle = search.strip().casefold()
    for acc, name, org in q:
        entry = rows.setdefault(acc, [name or "", []])
        entry[1].append(org)
    out = []
    for acc, (name, orgs) in rows.items():
        text = f"{acc} {name} {' '.join(orgs)}".casefold()
        if needle and needle not in text:
            continue
        out.append((acc, name, ", ".join(sorted(set(orgs)))))
        if len(out) >= limit:
            break
    return out


def is_known_account(account: str) -> bool:
    """A synced organization member, or an account a contract lists by id."""
    from cache.models import OrganizationUser, PortalEntry

    return (OrganizationUser.select().where(OrganizationUser.account_id == account).exists()
            or PortalEntry.select().where((PortalEntry.kind == "user") & (PortalEntry.value == account)).exists())


def locations() -> list[tuple[str, str]]:
    """(label, value) of the Help Center and each synced service desk's portal."""
    from cache.models import ServiceDesk

    out = [("Help Center", HELP_CENTER)]
    for d in ServiceDesk.select().order_by(ServiceDesk.project_key):
        out.append((f"Portal {d.project_key} ({d.project_name})", d.project_key))
    return out


def start_location(contract_name: str | None, locs: list[tuple[str, str]]) -> str | None:
    """Where the preview of a contract starts: the Help Center when the contract shows there, else its
    first portal project among the synced portals (None: the Help Center)."""
    if not contract_name:
        return None
    from cache.store import load_contract

    try:
        portal = load_contract(contract_name).portal
    except Exception:  # deleted meanwhile, or a broken contract: the Help Center
        return None
    if portal.help_center:
        return HELP_CENTER
    values = {v.upper(): v for _l, v in locs if v != HELP_CENTER}
    return next((values[k.upper()] for k in portal.portal_projects if k.upper() in values), None)


class PortalPreviewScreen(Screen[None]):
    HELP_TITLE = "Customer-portal preview"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f3", "focus_user", "User search"),
        Binding("f4", "focus_location", "Location"),
        Binding("down", "focus_users", "Pick from the list", show=False),
    ]
    DEFAULT_CSS = """
    PortalPreviewScreen #portal-form { height: auto; padding: 0 1; }
    PortalPreviewScreen #portal-form Label { padding: 1 1 0 0; }
    PortalPreviewScreen #portal-user { width: 1fr; }
    PortalPreviewScreen #portal-location { width: 32; }
    PortalPreviewScreen #portal-users { height: 8; }
    PortalPreviewScreen #portal-who { padding: 0 1; height: auto; }
    PortalPreviewScreen #portal-panels { height: 1fr; padding: 0 1; border-top: solid $accent; }
    """

    def __init__(self, contract_name: str | None = None) -> None:
        super().__init__()
        self.contract_name = contract_name
        self.panels: list[dict[str, Any]] | None = None
        self._start_pending = contract_name is not None  # start at a location where the contract shows

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="portal-form"):
            yield Label("User")
            yield Input(placeholder="search a name / organization, or type an account id", id="portal-user")
            yield Label("At")
            yield Select([("Help Center", HELP_CENTER)], value=HELP_CENTER, allow_blank=False,
                         id="portal-location")
        table: DataTable = DataTable(id="portal-users", cursor_type="row")
        table.add_column("Name", key="name")
        table.add_column("Account id", key="account")
        table.add_column("Organizations", key="orgs")
        yield table
        yield Static("", id="portal-who")
        with VerticalScroll(id="portal-panels"):
            yield Static("", id="portal-panel-text")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Customer-portal preview" + (f" ({self.contract_name})" if self.contract_name else "")
        self.query_one("#portal-user", Input).focus()
        self._load_choices("")
        self._show_panels()

    @work(thread=True, exclusive=True, group="portal-users")
    def _load_choices(self, search: str) -> None:
        from tui.screens.report import _close_thread_db

        try:
            users, locs = known_users(search), locations()
            start = start_location(self.contract_name, locs) if self._start_pending else None
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._choices_loaded, users, locs, start)

    def _choices_loaded(self, users, locs, start: str | None = None) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        table = self.query_one("#portal-users", DataTable)
        table.clear()
        for acc, name, orgs in users:
            table.add_row(name, acc, orgs, key=acc)
        sel = self.query_one("#portal-location", Select)
        current = sel.value
        if len(locs) != len(getattr(self, "_locs", [])):
            self._locs = locs
            sel.set_options(locs)
            values = [v for _l, v in locs]
            sel.value = current if current in values else HELP_CENTER
        if self._start_pending:
            self._start_pending = False
            if start is not None and start != sel.value:
                sel.value = start  # Select.Changed shows its panels

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "portal-user":
            self._load_choices(event.value)
            self._show_panels()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._show_panels()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            inp = self.query_one("#portal-user", Input)
            with inp.prevent(Input.Changed):
                inp.value = event.row_key.value
            self._show_panels()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._show_panels()

    def _selection(self) -> tuple[str, bool, str | None]:
        account = self.query_one("#portal-user", Input).value.strip()
        loc = self.query_one("#portal-location", Select).value
        if loc == HELP_CENTER or not isinstance(loc, str):
            return account, True, None
        return account, False, loc

    def _show_panels(self) -> None:
        account, help_center, portal = self._selection()
        self._panels(account, help_center, portal)

    @work(thread=True, exclusive=True, group="portal-panels")
    def _panels(self, account: str, help_center: bool, portal: str | None) -> None:
        from cache.reports import portal_panels
        from tickets.render import render_panel_text
        from tui.screens.report import _close_thread_db

        known = True
        try:
            panels = portal_panels(account or None, help_center=help_center, portal_key=portal,
                                   as_of=self.app.today)  # type: ignore[attr-defined]
            text, error = render_panel_text(panels), None
            known = not account or bool(panels) or is_known_account(account)
        except Exception as exc:
            panels, text, error = [], "", (str(exc).splitlines() or [type(exc).__name__])[0]
        finally:
            _close_thread_db()
        self.app.call_from_thread(self._panels_loaded, account, help_center, portal, panels, text, error, known)

    def _panels_loaded(self, account, help_center, portal, panels, text, error, known: bool = True) -> None:
        if not self.is_attached:  # the user left the screen meanwhile
            return
        if (account, help_center, portal) != self._selection():
            return  # an older answer: the one for the current choice follows
        self.panels = panels
        where = "the Help Center" if help_center else f"the {portal} portal"
        who = f"user {account}" if account else "an anonymous visitor"
        if not known:  # search text, not an account id: say so instead of "what user acme sees"
            who = (f"'{escape(account)}' (no synced account has that id: pick a user above with Enter; "
                   "an unknown user sees nothing)")
        self.query_one("#portal-who", Static).update(
            f"What [b]{who}[/] sees at [b]{where}[/]: {count_text(len(panels), 'panel')}")
        body = self.query_one("#portal-panel-text", Static)
        if error:
            body.update(Text(error, style="bold red"))
        elif not panels:
            body.update(Text("nothing: no contract shows a panel to this user here "
                             "(anonymous and unknown users never see one)", style="dim"))
        else:
            body.update(Text(text))

    def action_focus_user(self) -> None:
        self.query_one("#portal-user", Input).focus()

    def action_focus_users(self) -> None:
        self.query_one("#portal-users", DataTable).focus()

    def action_focus_location(self) -> None:
        self.query_one("#portal-location", Select).focus()

    def on_sync_finished(self, event) -> None:
        self._load_choices(self.query_one("#portal-user", Input).value)
        self._show_panels()

    def action_back(self) -> None:
        self.dismiss(None)
