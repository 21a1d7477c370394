"""One database handle for the whole program, opened from a URL or a path.

``database`` is a peewee ``DatabaseProxy`` every model binds to;
:func:`open_database` initialises it from ``--db`` / ``TICKETBOOK_DB``:

* a file path (or ``sqlite:///path``): SQLite with WAL, foreign keys, a busy
  timeout and ``synchronous=NORMAL``;
* ``postgresql://user:pass@host/db``: PostgreSQL through ``playhouse.db_url``
  (needs the ``postgres`` extra, psycopg2).

Opening applies the schema migrations (:mod:`cache.migrations`), so a
database made by an older version upgrades in place.  A file that is not a
SQLite database, or a SQLite database that is not TicketBook's, is refused
with one clear line (exit 2) and never touched.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
from collections.abc import Iterator
from urllib.parse import urlparse

import peewee as pw
import platformdirs

from tickets.errors import InputError, RunError

database = pw.DatabaseProxy()

BUSY_TIMEOUT_MS = 15_000
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "synchronous": "normal",
}


def default_db_path() -> pathlib.Path:
    """The default SQLite file in the platform's user data dir."""
    return pathlib.Path(platformdirs.user_data_dir("ticketbook", appauthor=False)) / "ticketbook.db"


def describe(url_or_path: str | os.PathLike | None) -> str:
    """A printable name of the database (no password)."""
    if url_or_path is None:
        return str(default_db_path())
    text = str(url_or_path)
    parsed = urlparse(text)
    if parsed.scheme.startswith("postgres"):
        host = parsed.hostname or "localhost"
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{parsed.username + '@' if parsed.username else ''}{host}{port}{parsed.path}"
    return text


def is_postgres(url_or_path: str | os.PathLike | None) -> bool:
    return str(url_or_path or "").startswith(("postgres://", "postgresql://"))


def _sqlite_path(url_or_path: str | os.PathLike | None) -> pathlib.Path:
    if url_or_path is None:
        return default_db_path()
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]  # sqlite:///rel.db, sqlite:////abs/path.db
    if text == ":memory:":
        raise InputError("--db: ':memory:' is not supported (each thread would see its own empty database); give a file path")
    return pathlib.Path(text).expanduser()


def _check_sqlite_file(path: pathlib.Path) -> None:
    """Refuse, before peewee touches it, a file that is not a SQLite database."""
    if path.is_dir():
        raise InputError(f"--db: {path} is a directory, not a database file")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        raise InputError(f"--db: cannot read {path}: {exc.strerror}") from None
    if header != b"SQLite format 3\x00":
        raise InputError(f"--db: {path} is not a SQLite database")
    _check_ownership_read_only(path)


def _check_ownership_read_only(path: pathlib.Path) -> None:
    """Refuse a foreign or too-new SQLite database before opening it for real.

    Opening with the pragmas would already write to the file (WAL mode is
    recorded in the header), so the checks that refuse a database run first
    on a read-only connection.
    """
    from cache.migrations import LATEST

    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"--db: cannot open {path}: {exc}") from None
    try:
        tables = {row[0] for row in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            return
        if "meta" not in tables:
            raise InputError(f"--db: {path} was not made by TicketBook (no schema version); refusing to touch it")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            raise InputError(f"--db: {path} has no TicketBook schema version; refusing to touch it")
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise InputError(f"--db: {path} has a bad schema version {row[0]!r}; refusing to touch it") from None
        if version > LATEST:
            raise RunError(f"the database {path} has schema version {version}, newer than this TicketBook "
                           f"knows ({LATEST}); upgrade TicketBook")
    except sqlite3.DatabaseError as exc:
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise InputError(f"--db: {path}: {message}") from None
    finally:
        con.close()


def connect(url_or_path: str | os.PathLike | None = None) -> pw.Database:
    """Create (but do not migrate) the peewee database for a URL or path."""
    if is_postgres(url_or_path):
        from playhouse.db_url import connect as url_connect

        try:
            return url_connect(str(url_or_path))
        except ImportError:
            raise InputError("--db: PostgreSQL needs psycopg2: pip install 'ticketbook[postgres]'") from None
    path = _sqlite_path(url_or_path)
    _check_sqlite_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--db: cannot create {path.parent}: {exc.strerror}") from None
    return pw.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, timeout=BUSY_TIMEOUT_MS / 1000)


def open_database(url_or_path: str | os.PathLike | None = None, *, migrate: bool = True) -> pw.Database:
    """Open the database, bind :data:`database` to it and apply migrations."""
    db = connect(url_or_path)
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        if migrate:
            from cache.migrations import migrate as apply_migrations

            apply_migrations(db)
    except (pw.DatabaseError, sqlite3.DatabaseError) as exc:
        _close_quietly(db)
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        if "locked" in message or "busy" in message:
            raise RunError(f"database {describe(url_or_path)} is locked by another process; try again") from None
        if is_postgres(url_or_path) and isinstance(exc, pw.OperationalError):
            raise RunError(f"cannot reach database {describe(url_or_path)}: {message}") from None
        raise InputError(f"--db: {describe(url_or_path)}: {message}") from None
    return db


@contextlib.contextmanager
def opened_database(url_or_path: str | os.PathLike | None = None) -> Iterator[pw.Database]:
    """``with opened_database(args.db):`` open (and migrate) for one command, then close."""
    db = open_database(url_or_path)
    try:
        yield db
    finally:
        close_database()


def close_database() -> None:
    obj = database.obj
    if obj is not None:
        _close_quietly(obj)


def _close_quietly(db: pw.Database) -> None:
    try:
        if not db.is_closed():
            db.close()
    except Exception:  # pragma: no cover
        pass
