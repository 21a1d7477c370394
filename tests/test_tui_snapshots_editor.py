"""SVG snapshots of the contract list, the editor's three tabs, the clause dialog and the amends popup.

Deterministic: a fixed dataset (``test_tui_editor.seed``: two contracts, a
few cached issues, service desks, people and SLA names), a fixed ``--as-of``,
no clock in the header, input cursors not blinking.  Update after a
deliberate change with ``pytest tests/test_tui_snapshots_editor.py
--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest

from cache.db import close_database
from test_tui_editor import ACME, editor_app, make_app, seed

SIZE = (100, 30)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "snap.db"
    seed(path)
    yield path
    close_database()


async def _settle(pilot) -> None:
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
    await pilot.pause(0.1)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def editor_ready(*keys: str, until=None):
    async def run_before(pilot) -> None:
        for _ in range(500):
            if getattr(pilot.app.screen, "loaded", False):
                break
            await pilot.pause(0.02)
        assert pilot.app.screen.loaded
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if until is not None:
            for _ in range(500):
                if until(pilot.app):
                    break
                await pilot.pause(0.02)
            assert until(pilot.app)
        await _settle(pilot)

    return run_before


def test_contract_list(db, snap_compare):
    async def run_before(pilot) -> None:
        for _ in range(500):
            if getattr(pilot.app.screen, "statuses_done", False):
                break
            await pilot.pause(0.02)
        assert pilot.app.screen.statuses_done
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_editor_general_tab(db, snap_compare):
    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready())


def test_editor_general_tab_with_problems(db, snap_compare):
    def keys(text: str) -> list[str]:
        return list(text)

    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready(
        "tab", "tab", "ctrl+u", *keys("2024-12-31"), "ctrl+s"))


def test_editor_clauses_tab(db, snap_compare):
    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready("f7"))


def test_editor_customer_portal_tab(db, snap_compare):
    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready("f8"))


def test_clause_dialog(db, snap_compare):
    def counted(app) -> bool:
        return bool(getattr(app.screen, "count_text", ""))

    assert snap_compare(editor_app(ACME), terminal_size=SIZE,
                        run_before=editor_ready("f7", "down", "e", until=counted))


def test_clause_dialog_invalid_jql(db, snap_compare):
    def counted(app) -> bool:
        return getattr(app.screen, "count_text", "").startswith("cannot be counted locally: invalid JQL")

    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready(
        "f7", "e", "tab", "tab", "end", "space", "A", "N", "D", "space", "(", until=counted))


def test_amends_popup(db, snap_compare):
    assert snap_compare(editor_app(ACME), terminal_size=SIZE, run_before=editor_ready("f7", "down", "m"))
