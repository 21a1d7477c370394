"""Contract editor, clause dialog and amends popup, driven with the Textual pilot.

Every test works on a real SQLite file in ``tmp_path`` (the main flows, through
``db_both``, on PostgreSQL too when a server is configured; thread workers open
their own connections), seeded through :mod:`cache.store` and the cache
models, and reads the outcome back from the database with the store.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from decimal import Decimal

import pytest

from cache.db import close_database, open_database
from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal

AS_OF = dt.date(2025, 3, 15)
ACME = "Acme Corp - Monthly Support"
GLOBEX = "Globex - Annual Hours"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def acme() -> Contract:
    return Contract(
        name=ACME, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), time_zone="Europe/Istanbul",
        period_type=PeriodType.MONTHLY_CALENDAR,
        clauses=(
            Clause("High priority tickets", ClauseType.ISSUE_COUNT, "project = ABC AND priority >= High", limit=3),
            Clause("Service hours", ClauseType.SERVICE_HOURS, "project = ABC", limit=50 * 3600,
                   amends=(Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 10 * 3600, "March launch"),)),
            Clause("Resolution SLA", ClauseType.SLA_SUCCESS_RATE, "project = ABC", sla=("Time to resolution",),
                   target=Decimal("99.5")),
        ),
        portal=Portal(help_center=True, portal_projects=("ABC",), users=("acc-alice",), organizations=("Acme",)),
    )


def globex() -> Contract:
    return Contract(name=GLOBEX, start=dt.date(2024, 7, 1), end=dt.date(2026, 6, 30), time_zone="UTC",
                    period_type=PeriodType.ANNUAL_EXACT_DAY,
                    clauses=(Clause("All tickets", ClauseType.ISSUE_COUNT, "project = GLX"),))


def seed(path: pathlib.Path) -> None:
    """Contracts plus the synced reference data the editor offers (service desks, people, SLA names)."""
    from cache import models as m
    from cache.store import save_contract

    open_database(path)
    save_contract(acme())
    save_contract(globex())
    m.ServiceDesk.create(id="1", project_id="10001", project_key="ABC", project_name="Acme Help Desk")
    m.ServiceDesk.create(id="2", project_id="10002", project_key="GLX", project_name="Globex Support")
    acme_org = m.Organization.create(id="7", name="Acme")
    globex_org = m.Organization.create(id="8", name="Globex Corporation")
    m.OrganizationUser.create(organization=acme_org, account_id="acc-alice", display_name="Alice Archer")
    m.OrganizationUser.create(organization=acme_org, account_id="acc-bob", display_name="Bob Baker")
    m.OrganizationUser.create(organization=globex_org, account_id="acc-carol", display_name="Carol Cruz")
    m.Project.create(id="10001", key="ABC", name="Acme Help Desk")
    m.Project.create(id="10002", key="GLX", name="Globex Support")
    for pos, (pid, name) in enumerate([("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low")]):
        m.Priority.create(id=pid, name=name, position=pos)
    t = dt.datetime(2025, 3, 1, 9, 0)
    for i, (key, prio) in enumerate([("ABC-1", "High"), ("ABC-2", "Low"), ("GLX-1", "High")], start=1):
        m.Issue.create(id=i, key=key, priority_id={"High": "2", "Low": "4"}[prio], project_id="10001" if key.startswith("ABC") else "10002", project_key=key.split("-")[0],
                       priority_name=prio, created=t, updated=t, synced_at=t)
    m.SlaCycle.create(issue=1, field_id="customfield_1", sla_name="Time to resolution", kind="completed")
    m.SlaCycle.create(issue=2, field_id="customfield_2", sla_name="Time to first response", kind="completed")


@pytest.fixture
def db(tmp_path) -> pathlib.Path:
    path = tmp_path / "editor.db"
    seed(path)
    yield path
    close_database()


@pytest.fixture
def db_both(db_url) -> str:
    """The seeded database on each backend (SQLite file; PostgreSQL when TICKETBOOK_TEST_PG_URL is set),
    for the main flows: the editor's thread workers then run against a real server too."""
    seed(db_url)
    yield db_url
    close_database()


def make_app(screen_factory=None):
    from tui.app import AppOptions, TicketBookApp

    class _App(TicketBookApp):
        def on_mount(self, event) -> None:
            if screen_factory is None:
                return super().on_mount()
            event.prevent_default()
            self.push_screen(screen_factory())

    return _App(AppOptions(as_of=AS_OF))


async def wait_for(pilot, cond, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


# --- helpers -----------------------------------------------------------------------------


def editor_app(name: str | None = ACME):
    from tui.screens.editor import ContractEditorScreen

    return make_app(lambda: ContractEditorScreen(name))


async def open_editor(pilot):
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", False))
    await pilot.pause()
    return pilot.app.screen


TYPED_TAIL = 6  # keys really typed at the end of a long text (the head is pasted, to keep tests fast)


async def type_into(pilot, selector: str, text: str) -> None:
    """Focus the input, clear it and type ``text`` (its last characters key by key)."""
    from textual.widgets import Input

    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    await pilot.pause()
    head, tail = text[:-TYPED_TAIL], text[-TYPED_TAIL:]
    widget.value = head
    widget.cursor_position = len(head)
    await pilot.pause()
    if tail:
        await pilot.press(*tail)
    await pilot.pause()
    assert widget.value == text


def text_of(screen, selector: str) -> str:
    from textual.widgets import Static

    return str(screen.query_one(selector, Static).render())


def stored(name: str = ACME):
    from cache.store import load_contract_with_revision

    _id, revision, contract = load_contract_with_revision(name)
    return revision, contract


async def save_and_wait(pilot, editor, *, expect_saved: bool = True) -> None:
    await pilot.press("ctrl+s")
    if expect_saved:
        await wait_for(pilot, lambda: not editor.saving and not editor.dirty)
        assert text_of(editor, "#editor-messages").startswith("saved ")
    else:
        await wait_for(pilot, lambda: not editor.saving)
        await pilot.pause()


async def open_clause_dialog(pilot, key: str = "a"):
    from tui.screens.clause import ClauseDialog

    await pilot.press("f7")
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ClauseDialog))
    await pilot.pause()
    return pilot.app.screen


async def choose(pilot, selector: str, value) -> None:
    """Pick a Select option with the keyboard: open it, walk to the option, Enter."""
    from textual.widgets import Select

    select = pilot.app.screen.query_one(selector, Select)
    values = [v for _label, v in select._options if v is not Select.NULL]
    select.focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    current = values.index(select.value)
    target = values.index(value)
    await pilot.press(*(["down"] * (target - current) if target >= current else ["up"] * (current - target)))
    await pilot.press("enter")
    await pilot.pause()
    assert select.value == value


# --- creating a contract ----------------------------------------------------------------------


async def test_create_contract_from_the_list(db_both):
    from tui.screens.contracts import ContractListScreen
    from tui.screens.editor import ContractEditorScreen

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen) and app.screen.loaded)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ContractEditorScreen))
        editor = await open_editor(pilot)
        assert editor.query_one("#start").value == "2025-03-01"  # defaults from --as-of
        await type_into(pilot, "#name", "Initech - Q2 Support")
        await type_into(pilot, "#start", "2025-04-01")
        await type_into(pilot, "#end", "2025-06-30")
        await type_into(pilot, "#time-zone", "istanb")
        assert editor.query_one("#tz-matches").display
        await pilot.press("down", "down", "enter")  # Asia/Istanbul, then Europe/Istanbul
        assert editor.query_one("#time-zone").value == "Europe/Istanbul"
        await choose(pilot, "#period-type", "monthly_exact_day")
        assert "3 periods" in text_of(editor, "#period-preview")
        assert "1: 2025-04-01..2025-04-30" in text_of(editor, "#period-preview")
        await type_into(pilot, "#notes", "signed by Peter")
        editor.query_one("#carry-over").focus()
        await pilot.press("enter")
        assert editor.dirty
        await save_and_wait(pilot, editor)
        assert "saved 'Initech - Q2 Support' (revision 1)" in text_of(editor, "#editor-messages")
        assert not editor.dirty
        await pilot.press("escape")  # nothing unsaved: straight back
        await wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen))
        await wait_for(pilot, lambda: app.screen.query_one("#contracts").row_count == 3)
    revision, contract = stored("initech - q2 support")
    assert revision == 1
    assert (contract.name, contract.start, contract.end, contract.time_zone, contract.period_type) == (
        "Initech - Q2 Support", dt.date(2025, 4, 1), dt.date(2025, 6, 30), "Europe/Istanbul",
        PeriodType.MONTHLY_EXACT_DAY)
    assert contract.carry_over is True and contract.borrowing is False and contract.clauses == ()
    from cache.models import Contract as ContractModel

    assert ContractModel.get(ContractModel.name == "Initech - Q2 Support").notes == "signed by Peter"


async def test_editor_notes_are_the_contract_notes_and_are_exported(db):
    import dataclasses

    from cache.store import load_all_contracts, save_contract
    from tickets.contractfile import dump_contract_file, parse_contract_file

    save_contract(dataclasses.replace(acme(), notes="from the import"), expected_revision=1)
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        assert editor.query_one("#notes").value == "from the import"  # loaded from Contract.notes
        await type_into(pilot, "#notes", "renewal: call Peter in May")
        await save_and_wait(pilot, editor)
    revision, contract = stored()
    assert revision == 3 and contract == dataclasses.replace(acme(), notes="renewal: call Peter in May")
    text = dump_contract_file(load_all_contracts(order="created"))
    assert '"notes": "renewal: call Peter in May"' in text
    assert parse_contract_file(text)[0].notes == "renewal: call Peter in May"


async def test_period_preview_is_live_and_shows_errors_inline(db):
    app = editor_app(GLOBEX)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        assert "2 periods" in text_of(editor, "#period-preview")
        await choose(pilot, "#period-type", "monthly_calendar")
        assert "24 periods" in text_of(editor, "#period-preview")
        preview = text_of(editor, "#period-preview")  # the first 4, the current one (9: March 2025), the last 3
        assert "… 4 more …" in preview and "… 12 more …" in preview
        assert "  9: 2025-03-01..2025-03-31  ◀ current" in preview
        await type_into(pilot, "#end", "2024-06-30")
        assert "must be on or after the start date 2024-07-01" in text_of(editor, "#end-error")
        assert "no periods" in text_of(editor, "#period-preview")
        await type_into(pilot, "#time-zone", "Mars/Olympus")
        assert "unknown time zone 'Mars/Olympus'" in text_of(editor, "#time-zone-error")


# --- clauses -------------------------------------------------------------------------------------


async def test_add_each_clause_type(db):
    from tui.screens.clause import ClauseDialog

    app = editor_app(GLOBEX)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        # number of issues, typed and chosen with the keyboard
        dialog = await open_clause_dialog(pilot)
        await type_into(pilot, "#clause-name", "High priority")
        await type_into(pilot, "#clause-jql", "project = ABC AND priority >= High")
        await wait_for(pilot, lambda: dialog.count_text == "matches 1 cached issue")
        await type_into(pilot, "#clause-limit", "5")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        # total service hours, 2 decimals
        dialog = await open_clause_dialog(pilot)
        await type_into(pilot, "#clause-name", "Hours")
        await choose(pilot, "#clause-type", "service_hours")
        await type_into(pilot, "#clause-jql", "project = GLX")
        await type_into(pilot, "#clause-limit", "12.25")
        await pilot.press("enter")  # Enter in a field is OK
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        # SLA success rate: one synced SLA picked, one typed, target 99.5
        dialog = await open_clause_dialog(pilot)
        await type_into(pilot, "#clause-name", "Resolution")
        await choose(pilot, "#clause-type", "sla_success_rate")
        assert not dialog.query_one("#quota-fields").display and dialog.query_one("#sla-fields").display
        await type_into(pilot, "#clause-jql", "project = GLX")
        sla_list = dialog.query_one("#clause-sla")
        sla_list.focus()
        await pilot.press("down", "space")  # the list is sorted: 0 first response, 1 resolution
        await type_into(pilot, "#clause-sla-other", "Time to triage")
        await type_into(pilot, "#clause-target", "99.5")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        assert editor.query_one("#clause-table").row_count == 4
        await save_and_wait(pilot, editor)
    _rev, contract = stored(GLOBEX)
    by_name = {c.name: c for c in contract.clauses}
    assert [c.name for c in contract.clauses] == ["All tickets", "High priority", "Hours", "Resolution"]
    assert by_name["High priority"] == Clause("High priority", ClauseType.ISSUE_COUNT,
                                              "project = ABC AND priority >= High", limit=5)
    assert by_name["Hours"].type is ClauseType.SERVICE_HOURS and by_name["Hours"].limit == 12 * 3600 + 900
    sla = by_name["Resolution"]
    assert (sla.type, sla.sla, sla.target, sla.limit) == (
        ClauseType.SLA_SUCCESS_RATE, ("Time to resolution", "Time to triage"), Decimal("99.5"), None)


async def test_edit_and_delete_a_clause(db_both):
    from tui.screens.clause import ClauseDialog
    from tui.screens.dialogs import ConfirmDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        dialog = await open_clause_dialog(pilot, "e")  # the first clause: High priority tickets
        assert dialog.query_one("#clause-limit").value == "3"
        await type_into(pilot, "#clause-limit", "")
        dialog.query_one("#clause-limited").value = False  # unlimited
        await pilot.pause()
        await type_into(pilot, "#clause-name", "Urgent tickets")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        await pilot.press("down", "down", "d")  # the SLA clause
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # kept
        await pilot.pause()
        assert len(editor.clauses) == 3
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await pilot.pause()
        assert [c.name for c in editor.clauses] == ["Urgent tickets", "Service hours"]
        await pilot.press("left_square_bracket")  # move "Service hours" up
        assert [c.name for c in editor.clauses] == ["Service hours", "Urgent tickets"]
        await save_and_wait(pilot, editor)
    _rev, contract = stored()
    assert [c.name for c in contract.clauses] == ["Service hours", "Urgent tickets"]
    assert contract.clauses[1].limit is None and contract.clauses[1].jql == "project = ABC AND priority >= High"


async def test_jql_feedback_shows_the_error_position_and_invalid_jql_saves_after_a_warning(db):
    from tui.screens.clause import ClauseDialog

    app = editor_app(GLOBEX)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        dialog = await open_clause_dialog(pilot)
        await type_into(pilot, "#clause-name", "Broken")
        await type_into(pilot, "#clause-jql", 'summary ~ "printer"')
        await wait_for(pilot, lambda: dialog.count_text.startswith("cannot be counted locally: needs Jira"))
        await type_into(pilot, "#clause-jql", "project = ")
        feedback = text_of(dialog, "#jql-feedback").splitlines()
        assert feedback[0].startswith("✗ ") and feedback[1] == "project = "
        assert feedback[2] == " " * 10 + "^"  # the caret under the position of the error
        await wait_for(pilot, lambda: dialog.count_text == "cannot be counted locally: invalid JQL (see above)")
        await type_into(pilot, "#clause-limit", "1")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ClauseDialog)
        assert "does not parse" in text_of(dialog, "#clause-messages")
        await pilot.press("ctrl+s")  # the second OK keeps it
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        assert "does not parse" in text_of(editor, "#editor-messages")
        await save_and_wait(pilot, editor)
    _rev, contract = stored(GLOBEX)
    assert contract.clauses[-1].jql == "project = "


# --- amends --------------------------------------------------------------------------------------


async def test_add_edit_and_delete_amends(db_both):
    from tui.screens.amends import AmendDialog, AmendsScreen
    from tui.screens.dialogs import ConfirmDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("f7", "down", "m")  # Service hours
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        popup = app.screen
        assert popup.query_one("#amend-table").row_count == 1
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
        await choose(pilot, "#amend-period", 1)  # 2: 2025-02-01..2025-02-28
        await choose(pilot, "#amend-kind", "consumption")
        await type_into(pilot, "#amend-value", "-2.5")
        await type_into(pilot, "#amend-notes", "refund: outage")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        assert popup.query_one("#amend-table").row_count == 2
        # edit the March limit amend (now second, sorted by date): 10 h -> 12 h
        await pilot.press("down", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
        assert app.screen.query_one("#amend-value").value == "10"
        await type_into(pilot, "#amend-value", "12")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        # a third amend, then delete it
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
        await type_into(pilot, "#amend-value", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        assert popup.query_one("#amend-table").row_count == 3
        popup.query_one("#amend-table").move_cursor(row=0)  # period 1, the newest one
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        assert popup.query_one("#amend-table").row_count == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is editor)
        assert editor.dirty
        await save_and_wait(pilot, editor)
    _rev, contract = stored()
    assert contract.clauses[1].amends == (
        Amend(dt.date(2025, 2, 1), AmendKind.CONSUMPTION, -9000, "refund: outage"),
        Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 12 * 3600, "March launch"),
    )


async def test_amends_refused_on_sla_clauses_and_limit_amends_on_unlimited_ones(db):
    from tui.screens.amends import AmendDialog, AmendsScreen

    app = editor_app(GLOBEX)  # "All tickets" is unlimited
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("f7", "m")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
        dialog = app.screen
        assert dialog.query_one("#amend-kind").value == "consumption"  # the only kind allowed here
        await choose(pilot, "#amend-kind", "limit")
        assert "limit amends are not allowed on unlimited clauses" in text_of(dialog, "#amend-kind-error")
        await type_into(pilot, "#amend-value", "3")
        await pilot.press("ctrl+s")
        assert app.screen is dialog and "limit amends are not allowed" in text_of(dialog, "#amend-messages")
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen is editor)
        assert not editor.dirty
    close_database()

    open_database(db)
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("f7", "down", "down", "m")  # Resolution SLA
        await pilot.pause()
        assert app.screen is editor
        assert "amends are not allowed on SLA success rate clauses" in text_of(editor, "#editor-messages")


# --- bad input: the message is shown and nothing is saved ----------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("#end", "2024-12-31", "end must be on or after the start date 2025-01-01"),
    ("#time-zone", "Europe/Atlantis", "unknown time zone 'Europe/Atlantis'"),
    ("#start", "2025-13-01", "start '2025-13-01' is not a valid date"),
    ("#name", "", "name is required"),
    ("#name", "globex - ANNUAL hours", "duplicate name"),
])
async def test_bad_general_input_is_refused(db, field, value, message):
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, field, value)
        assert message in text_of(editor, f"{field}-error")
        await save_and_wait(pilot, editor, expect_saved=False)
        shown = text_of(editor, "#editor-messages")
        assert shown.startswith("Not saved: 1 problem") and message in shown
        assert editor.revision == 1 and editor.dirty
    revision, contract = stored()
    assert revision == 1 and contract == acme()


@pytest.mark.parametrize(("clause_type", "field", "value", "message"), [
    ("issue_count", "#clause-limit", "-1", "limit must be >= 0"),
    ("issue_count", "#clause-limit", "2.5", "limit must be a whole number"),
    ("service_hours", "#clause-limit", "1.125", "limit must have at most 2 decimals"),
    ("sla_success_rate", "#clause-target", "0", "target must be greater than 0"),
    ("sla_success_rate", "#clause-target", "100.5", "target must be at most 100"),
    ("issue_count", "#clause-name", "service HOURS", "duplicate name 'service HOURS'"),
])
async def test_bad_clause_input_is_refused(db, clause_type, field, value, message):
    from tui.screens.clause import ClauseDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        dialog = await open_clause_dialog(pilot)
        await type_into(pilot, "#clause-name", "New clause")
        if clause_type != "issue_count":
            await choose(pilot, "#clause-type", clause_type)
        if clause_type == "sla_success_rate":
            await type_into(pilot, "#clause-sla-other", "Time to resolution")
        else:
            await type_into(pilot, "#clause-limit", "1")
        await type_into(pilot, field, value)
        assert message in text_of(dialog, f"{field}-error")
        await pilot.press("ctrl+s")
        assert app.screen is dialog
        assert message in text_of(dialog, "#clause-messages")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ClauseDialog))
        assert len(editor.clauses) == 3 and not editor.dirty
    assert stored() == (1, acme())


async def test_bad_amend_value_is_refused(db):
    from tui.screens.amends import AmendDialog, AmendsScreen

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("f7", "down", "m")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendsScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AmendDialog))
        dialog = app.screen
        for value, message in (("0", "value must not be 0"), ("1.001", "value must have at most 2 decimals"),
                               ("ten", "value must be a number, not 'ten'")):
            await type_into(pilot, "#amend-value", value)
            assert message in text_of(dialog, "#amend-value-error")
            await pilot.press("enter")
            assert app.screen is dialog
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen is editor)
        assert not editor.dirty
    assert stored() == (1, acme())


async def test_an_invalid_clause_loaded_is_reported_on_save(db):
    """A clause the rules refuse (here: limit amends on an SLA clause's type change) is listed by name."""
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        import dataclasses

        editor.clauses[0] = dataclasses.replace(editor.clauses[0], limit=-5)  # as if it came from elsewhere
        await save_and_wait(pilot, editor, expect_saved=False)
        assert "Clause 'High priority tickets': limit must be >= 0" in text_of(editor, "#editor-messages")
    assert stored() == (1, acme())


# --- unsaved changes and conflicts -------------------------------------------------------------


async def test_unsaved_changes_are_never_dropped_silently(db):
    from tui.screens.contracts import ContractListScreen
    from tui.screens.dialogs import UnsavedChangesDialog
    from tui.screens.editor import ContractEditorScreen

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen) and app.screen.loaded)
        await pilot.press("enter")  # the first row: Acme
        await wait_for(pilot, lambda: isinstance(app.screen, ContractEditorScreen))
        editor = await open_editor(pilot)
        await type_into(pilot, "#notes", "draft")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedChangesDialog))
        await pilot.press("c")  # cancel: keep editing
        await wait_for(pilot, lambda: app.screen is editor)
        assert editor.query_one("#notes").value == "draft"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedChangesDialog))
        await pilot.press("d")  # discard
        await wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen))
        assert stored()[0] == 1
        # again, and this time save on the way out
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ContractEditorScreen))
        editor = await open_editor(pilot)
        editor.query_one("#borrowing").value = True
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedChangesDialog))
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContractListScreen))
    revision, contract = stored()
    assert revision == 2 and contract.borrowing is True


async def test_save_with_a_problem_from_the_guard_stays_in_the_editor(db):
    from tui.screens.dialogs import UnsavedChangesDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "#end", "1999-01-01")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedChangesDialog))
        await pilot.press("s")
        await wait_for(pilot, lambda: app.screen is editor)
        await pilot.pause()
        assert "Not saved" in text_of(editor, "#editor-messages")
    assert stored() == (1, acme())


async def test_conflict_on_save_never_overwrites(db_both):
    import dataclasses

    from cache.store import save_contract

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "#notes", "mine")
        editor.query_one("#carry-over").value = True
        # meanwhile, someone else saves the same contract
        save_contract(dataclasses.replace(acme(), borrowing=True), expected_revision=1)
        await save_and_wait(pilot, editor, expect_saved=False)
        shown = text_of(editor, "#editor-messages")
        assert "changed by someone else since you opened it" in shown and "Nothing was overwritten" in shown
        assert editor.conflict and editor.dirty
        revision, contract = stored()
        assert revision == 2 and contract.borrowing is True and contract.carry_over is False
        # save as a copy under a new name
        await type_into(pilot, "#name", "Acme Corp - my copy")
        await save_and_wait(pilot, editor)
    assert stored()[1].borrowing is True  # the other save stands
    revision, copy = stored("Acme Corp - my copy")
    assert revision == 1 and copy.carry_over is True and copy.clauses == acme().clauses


async def test_conflict_then_reload_takes_the_stored_version(db):
    import dataclasses

    from cache.store import save_contract
    from tui.screens.dialogs import ConfirmDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        editor.query_one("#carry-over").value = True
        save_contract(dataclasses.replace(acme(), borrowing=True), expected_revision=1)
        await save_and_wait(pilot, editor, expect_saved=False)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: editor.loaded and editor.revision == 2)
        assert editor.query_one("#borrowing").value is True and editor.query_one("#carry-over").value is False
        assert not editor.dirty


# --- customer portal ---------------------------------------------------------------------------------


async def test_customer_portal_tab(db):
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("f8")
        await pilot.press("enter")  # the Help Center switch has the focus: off
        projects = editor.query_one("#projects")
        projects.focus()
        await pilot.press("down", "space")  # GLX on (ABC stays on)
        await type_into(pilot, "#user-search", "car")
        matches = editor.query_one("#user-matches")
        assert [str(matches.get_option_at_index(i).prompt) for i in range(matches.option_count)] == [
            "Carol Cruz (acc-carol)"]
        await pilot.press("enter")  # the only match is added
        assert editor.users == ["acc-alice", "acc-carol"]
        await type_into(pilot, "#user-search", "acc-zed")  # not synced: added as typed
        await pilot.press("enter")
        assert editor.users == ["acc-alice", "acc-carol", "acc-zed"]
        selected = editor.query_one("#users-selected")
        selected.focus()
        selected.highlighted = 0
        await pilot.press("enter")  # removes Alice
        assert editor.users == ["acc-carol", "acc-zed"]
        await type_into(pilot, "#org-search", "glob")
        await pilot.press("enter")
        editor.query_one("#orgs-selected").focus()
        editor.query_one("#orgs-selected").highlighted = 0
        await pilot.press("enter")  # removes Acme
        assert editor.organizations == ["Globex Corporation"]
        await save_and_wait(pilot, editor)
    _rev, contract = stored()
    assert contract.portal == Portal(help_center=False, portal_projects=("ABC", "GLX"),
                                     users=("acc-carol", "acc-zed"), organizations=("Globex Corporation",))


async def test_quit_with_unsaved_changes_asks_first(db):
    from tui.screens.dialogs import ConfirmDialog

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "#notes", "x")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is editor)
        assert app.is_running and editor.query_one("#notes").value == "x"
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert stored() == (1, acme())


async def test_help_lists_the_editor_keys(db):
    from tui.screens.help import HelpScreen

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_editor(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = app.screen._text()
        assert "## Contract editor" in text and "| m | Amends |" in text and "| ctrl+s | Save |" in text


@pytest.mark.parametrize("clause_type", ["issue_count", "sla_success_rate"])
async def test_clause_dialog_buttons_stay_on_screen_at_80x24(db, clause_type):
    """At 80x24 the dialog drops the blank lines between fields: OK and Cancel are visible, not below the fold."""
    from textual.widgets import Button

    app = editor_app(ACME)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_editor(pilot)
        dialog = await open_clause_dialog(pilot)
        if clause_type != "issue_count":
            await choose(pilot, "#clause-type", clause_type)
        await pilot.pause()
        box = dialog.query_one("#clause-box").region
        assert box.bottom <= 24
        for selector in ("#clause-ok", "#clause-cancel"):
            button = dialog.query_one(selector, Button).region
            assert button.height == 1 and box.contains_region(button), (selector, button, box)


async def test_moving_the_dates_past_an_amend_warns_before_saving(db):
    """An amend the new dates leave outside the contract counts nowhere: the first Ctrl+S says so."""
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "#start", "2025-04-01")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        text = text_of(editor, "#editor-messages")
        assert "1 amend would fall outside 2025-04-01..2025-12-31" in text and "Service hours 2025-03-01" in text
        assert stored()[1].start == dt.date(2025, 1, 1) and editor.dirty  # nothing saved
        await save_and_wait(pilot, editor)  # the second Ctrl+S saves, the amend kept
        revision, contract = stored()
        assert contract.start == dt.date(2025, 4, 1)
        hours = next(c for c in contract.clauses if c.name == "Service hours")
        assert [a.date for a in hours.amends] == [dt.date(2025, 3, 1)]
        # dates that keep every amend inside save at once
        await type_into(pilot, "#start", "2025-02-01")
        await save_and_wait(pilot, editor)
        assert stored()[1].start == dt.date(2025, 2, 1)


async def test_a_stray_key_never_replaces_a_field(db):
    """Entering a field puts the cursor at its end: typing adds to the text instead of replacing it."""
    from textual.widgets import Input

    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        name = editor.query_one("#name", Input)
        name.focus()
        await pilot.pause()
        await pilot.press("Z")
        assert name.value == ACME + "Z"
        await pilot.press("backspace", "tab")  # into Start: its date kept as well
        await pilot.pause()
        await pilot.press("1")
        assert editor.query_one("#start", Input).value == "2025-01-011"
        dialog = await open_clause_dialog(pilot, "e")
        field = dialog.query_one("#clause-name", Input)
        assert field.has_focus
        before = field.value
        await pilot.press("x")
        assert field.value == before + "x"


async def test_the_problem_list_of_a_refused_save_follows_the_fixes(db):
    """After a refused save the message shrinks as problems are fixed and clears when none is left."""
    app = editor_app(ACME)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "#end", "2024-12-31")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert text_of(editor, "#editor-messages").startswith("Not saved: 1 problem")
        await type_into(pilot, "#end", "2025-12-31")
        await pilot.pause(0.1)
        assert text_of(editor, "#editor-messages") == "problems fixed: Ctrl+S saves"
        await save_and_wait(pilot, editor)
