"""Imports go one way: tui -> cache -> tickets. tickets/ is pure domain code."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "tickets": {"peewee", "playhouse", "httpx", "textual", "cache", "tui", "sqlite3", "psycopg2"},
    "cache": {"textual", "tui"},
}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_checker_sees_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import peewee\nfrom textual.app import App\n")
    assert {"peewee", "textual"} <= _imports(bad)
