"""Shared test fixtures.

Backends
--------
Database-facing tests take :func:`db_url` (or :func:`backend` plus
:func:`fresh_db_url`) and run once on SQLite and once on PostgreSQL.  The
PostgreSQL runs need ``TICKETBOOK_TEST_PG_URL``: a server's maintenance
database (``postgresql://postgres@127.0.0.1:PORT/postgres``) in which the
fixtures CREATE a fresh database per test (``tb_<random>``) and DROP it
afterwards.  ``.ci/run`` and ``scripts/pg-dev.sh`` start such a server.
Without the variable the PostgreSQL runs are skipped with a reason.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Read at import, before the autouse fixture below clears every TICKETBOOK_* variable.
PG_URL = os.environ.get("TICKETBOOK_TEST_PG_URL") or None
PG_SKIP_REASON = ("PostgreSQL backend: TICKETBOOK_TEST_PG_URL is not set "
                  "(start a throwaway server with scripts/pg-dev.sh start)")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=[
        pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=PG_SKIP_REASON)]),
]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No test reads the developer's real config, data dir or Jira credentials."""
    for var in list(os.environ):
        if var.startswith("TICKETBOOK_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


# --------------------------------------------------------------------------- PostgreSQL helpers


def _pg_admin():
    import psycopg2

    con = psycopg2.connect(PG_URL)
    con.autocommit = True
    return con


def _with_dbname(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/" + name))


_ICU: list[bool] = []  # does the server create ICU databases? (asked once)


def create_pg_database() -> str:
    """CREATE a fresh, empty database on the test server; its URL.

    With a linguistic (ICU ``en-US``) collation when the server has ICU, as a
    team's server made with ``en_US.UTF-8`` would sort text (``a < B``); the
    throwaway server itself is initialised with ``--locale=C``, which would
    hide ORDER BY differences from SQLite's binary order.
    """
    name = "tb_" + uuid.uuid4().hex[:16]
    con = _pg_admin()
    try:
        cur = con.cursor()
        if not _ICU or _ICU[0]:
            try:
                cur.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
                _ICU[:] = [True]
                return _with_dbname(PG_URL, name)
            except Exception:  # no ICU (or PostgreSQL < 15): the server's default
                _ICU[:] = [False]
        cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    return _with_dbname(PG_URL, name)


def drop_pg_database(url: str) -> None:
    """DROP a database made by :func:`create_pg_database` (even with connections still open)."""
    name = urlparse(url).path.lstrip("/")
    assert name.startswith("tb_"), name
    con = _pg_admin()
    try:
        con.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        con.close()


def reset_database_proxy() -> None:
    """Close the global handle (every thread's connection it can reach) and unbind it."""
    from cache.db import close_database, database

    close_database()
    obj = database.obj
    if obj is not None:
        pool = getattr(obj, "close_all", None)
        if pool is not None:  # pooled databases only
            with contextlib.suppress(Exception):
                pool()
    database.initialize(None)


@contextlib.contextmanager
def fresh_database(backend: str, directory: pathlib.Path) -> Iterator[str]:
    """A URL (PostgreSQL) or path (SQLite, in ``directory``) of a new, empty database."""
    if backend == "sqlite":
        yield str(directory / f"tb_{uuid.uuid4().hex[:8]}.db")
        return
    if backend != "postgres":
        raise ValueError(backend)
    if PG_URL is None:
        pytest.skip(PG_SKIP_REASON)
    url = create_pg_database()
    try:
        yield url
    finally:
        reset_database_proxy()
        drop_pg_database(url)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """``"sqlite"`` or ``"postgres"`` (the latter skipped without TICKETBOOK_TEST_PG_URL)."""
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: pathlib.Path) -> Iterator[str]:
    """A fresh, empty database on each backend: a SQLite path or a ``postgresql://`` URL.

    Not opened: pass it to :func:`cache.db.open_database` or ``--db``.  The
    global handle is closed and unbound afterwards.
    """
    with fresh_database(backend, tmp_path) as url:
        yield url
        reset_database_proxy()


@pytest.fixture
def fresh_db_url(tmp_path: pathlib.Path):
    """A factory: ``fresh_db_url(backend)`` -> a new database URL/path (dropped after the test)."""
    stack = contextlib.ExitStack()

    def make(backend: str) -> str:
        return stack.enter_context(fresh_database(backend, tmp_path))

    with stack:
        yield make
    reset_database_proxy()


def query_separately(url_or_path: str | os.PathLike, sql: str) -> list[tuple]:
    """Rows of ``sql`` read through a separate, fresh connection (not the app's handle)."""
    text = str(url_or_path)
    if text.startswith(("postgres://", "postgresql://")):
        import psycopg2

        con = psycopg2.connect(text)
        try:
            cur = con.cursor()
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            con.close()
    import sqlite3

    con = sqlite3.connect(text)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
