"""The contract list (the first screen), driven with the Textual pilot on a real SQLite file."""

from __future__ import annotations

import datetime as dt

import pytest

from test_tui_editor import ACME, AS_OF, GLOBEX, db, make_app, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def rows(screen) -> list[list[str]]:
    table = screen.query_one("#contracts")
    return [[str(cell) for cell in table.get_row(key)] for key in table.rows]


async def loaded_list(pilot):
    from tui.screens.contracts import ContractListScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ContractListScreen) and pilot.app.screen.loaded)
    return pilot.app.screen


async def test_list_shows_contracts_statuses_and_last_sync(db):
    from cache.models import SyncLog
    from cache.reports import current_status

    SyncLog.create(started=dt.datetime(2025, 3, 14, 8, 0), finished=dt.datetime(2025, 3, 14, 8, 2), status="ok")
    SyncLog.create(started=dt.datetime(2025, 3, 15, 7, 0), finished=dt.datetime(2025, 3, 15, 7, 1),
                   status="failed")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded_list(pilot)
        await wait_for(pilot, lambda: screen.statuses_done)
        assert rows(screen) == [
            [ACME, "monthly (cal)", "2025-01-01", "2025-12-31", current_status(ACME, AS_OF)],
            [GLOBEX, "annual (day)", "2024-07-01", "2026-06-30", current_status(GLOBEX, AS_OF)],
        ]
        assert rows(screen)[1][4] == "ok"
        info = str(screen.query_one("#list-info").render())
        assert info == "2 contracts · last sync: 2025-03-15 07:01 UTC (failed) · as of 2025-03-15"


async def test_filter_as_you_type_in_sql(db):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded_list(pilot)
        await pilot.press("slash")
        assert screen.query_one("#filter").has_focus
        await pilot.press("G", "L", "O")
        await wait_for(pilot, lambda: [r[0] for r in rows(screen)] == [GLOBEX])
        assert str(screen.query_one("#list-info").render()).startswith("1 of 2 contracts")
        await pilot.press("%")  # a LIKE wildcard is matched literally
        await wait_for(pilot, lambda: rows(screen) == [])
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await wait_for(pilot, lambda: len(rows(screen)) == 2)
        await pilot.press("enter")  # back to the table
        assert screen.query_one("#contracts").has_focus


async def test_delete_asks_first(db):
    from cache.store import list_contracts
    from tui.screens.dialogs import ConfirmDialog

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded_list(pilot)
        await pilot.press("down", "d")  # Globex
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert GLOBEX in str(app.screen.query_one("#confirm-text").render())
        await pilot.press("escape")  # no
        await wait_for(pilot, lambda: app.screen is screen)
        assert [c.name for c in list_contracts()] == [ACME, GLOBEX]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: [r[0] for r in rows(screen)] == [ACME])
        assert "deleted" in str(screen.query_one("#list-message").render())
    assert [c.name for c in list_contracts()] == [ACME]


async def test_keys_open_the_other_screens(db):
    from tui.screens.editor import ContractEditorScreen

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded_list(pilot)
        for key, screen_name, attribute in (("e", "ContractEditorScreen", "contract_name"),
                                            ("r", "ReportScreen", None), ("u", "SummaryScreen", None)):
            await pilot.press(key)
            await wait_for(pilot, lambda: type(app.screen).__name__ == screen_name)
            if attribute:
                assert getattr(app.screen, attribute) == ACME
            app.pop_screen()
            await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ContractEditorScreen))
        assert app.screen.contract_name is None


async def test_empty_list_says_how_to_start(tmp_path):
    from cache.db import close_database, open_database

    open_database(tmp_path / "empty.db")
    try:
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await loaded_list(pilot)
            assert screen.query_one("#list-empty").display
            assert str(screen.query_one("#list-info").render()).startswith("0 contracts · last sync: never")
            await pilot.press("e")
            assert "no contract selected" in str(screen.query_one("#list-message").render())
    finally:
        close_database()


async def test_home_and_end_move_the_cursor_to_the_first_and_last_contract(db):
    """End then r opens the last contract's report (DataTable's own End only scrolls sideways)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded_list(pilot)
        table = screen.query_one("#contracts")
        assert table.has_focus and table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1 == 1
        await pilot.press("home")
        assert table.cursor_row == 0
