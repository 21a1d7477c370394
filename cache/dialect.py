"""Everything that differs between SQLite and PostgreSQL, in one place.

The rest of ``cache/`` writes portable peewee (``on_conflict`` upserts,
``insert_from``, ``EXISTS``, bound parameters) and asks this module for the
few things that cannot be portable:

* :func:`write_transaction`: a top-level write transaction.  SQLite:
  ``BEGIN IMMEDIATE`` (takes the write lock up front, waiting on the busy
  timeout: a ``DEFERRED`` transaction that reads first and then writes fails
  at once with "database is locked" when another writer committed meanwhile,
  WAL's ``SQLITE_BUSY_SNAPSHOT``).  PostgreSQL: ``BEGIN`` (row locks).
* :func:`read_snapshot`: several reads that must see one committed state
  (SQLite: a read transaction; PostgreSQL: ``REPEATABLE READ``).
* :func:`lock_referenced` / :func:`lock_for_update`: row locks.  PostgreSQL:
  ``FOR KEY SHARE`` (a row we are about to reference by a foreign key cannot
  be deleted until we commit) / ``FOR UPDATE``.  SQLite: nothing (a write
  transaction already excludes every other writer).
* :func:`migration_lock`: several sessions opening a new or old database at
  once migrate it once (PostgreSQL: an advisory lock; SQLite: the write lock).
* :func:`is_transient` / :func:`retrying`: errors worth retrying the whole
  transaction for.  PostgreSQL: deadlock detected (40P01), serialization
  failure (40001), lock not available (55P03).  SQLite: "database is locked"
  / "busy" after the busy timeout.  :func:`retrying` retries a top-level
  transaction with backoff for up to :data:`RETRY_SECONDS`, then raises one
  :class:`RunError` line: such errors never reach the user raw.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import peewee as pw

from tickets.errors import RunError

T = TypeVar("T")

#: how long :func:`retrying` keeps retrying a transient failure (beyond SQLite's own busy timeout)
RETRY_SECONDS = 60.0
PG_TRANSIENT = {"40001", "40P01", "55P03"}


def _db(db: pw.Database | None = None) -> pw.Database:
    if db is None:
        from cache.db import database

        db = database.obj
        if db is None:
            raise RunError("no database is open")
    return db


def is_sqlite(db: pw.Database | None = None) -> bool:
    return isinstance(_db(db), pw.SqliteDatabase)


def is_postgres(db: pw.Database | None = None) -> bool:
    return isinstance(_db(db), pw.PostgresqlDatabase)


# --- transactions and locks ----------------------------------------------------------------


def write_transaction(db: pw.Database | None = None):
    """A write transaction (a savepoint when one is already open); see the module doc."""
    db = _db(db)
    if isinstance(db, pw.SqliteDatabase) and db.transaction_depth() == 0:
        return db.atomic("IMMEDIATE")
    return db.atomic()


@contextlib.contextmanager
def read_snapshot(db: pw.Database | None = None) -> Iterator[None]:
    """A read-only transaction: every query inside sees the database as of its first query.

    For a report made of several queries (contract, clauses, memberships,
    sync time): it never mixes a contract save or a sync page committed
    half way through.  SQLite (WAL): a ``BEGIN DEFERRED`` read transaction is
    a snapshot.  PostgreSQL: ``REPEATABLE READ READ ONLY``.  Inside an open
    transaction it adds nothing.  Write nothing inside (evaluate memberships
    before).
    """
    db = _db(db)
    if db.transaction_depth() > 0:
        yield
        return
    with db.atomic():
        if isinstance(db, pw.PostgresqlDatabase):
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def lock_referenced(query: pw.Select, *of: type[pw.Model]) -> pw.Select:
    """``query`` locking its rows (of the models ``of``) against deletion until commit (PostgreSQL)."""
    if is_postgres():
        return query.for_update("FOR KEY SHARE", of=of or None)
    return query


def lock_for_update(query: pw.Select, *of: type[pw.Model]) -> pw.Select:
    """``query`` locking its rows (of the models ``of``) for update until commit (PostgreSQL)."""
    if is_postgres():
        return query.for_update(True, of=of or None)
    return query


#: pg_advisory_xact_lock key serialising schema migrations ("TBmigr" in ASCII)
MIGRATION_LOCK_KEY = 0x54426D696772


def migration_lock(db: pw.Database) -> None:
    """In a :func:`write_transaction`: wait until no other session is migrating this database.

    PostgreSQL: a transaction-scoped advisory lock.  SQLite: nothing to do, the
    ``BEGIN IMMEDIATE`` write lock already excludes every other writer.
    """
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))


# --- transient errors --------------------------------------------------------------------------


def _original(exc: BaseException) -> BaseException:
    if exc.args and isinstance(exc.args[0], BaseException):  # peewee wraps the driver's exception
        return exc.args[0]
    return exc.__cause__ or exc.__context__ or exc


def is_transient(exc: BaseException) -> bool:
    """A failure the whole transaction may simply be retried for (see the module doc)."""
    orig = _original(exc)
    code = getattr(orig, "pgcode", None)
    if code is not None:
        return code in PG_TRANSIENT
    if isinstance(exc, (pw.OperationalError, sqlite3.OperationalError)) or isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    return False


def is_foreign_key_race(exc: BaseException) -> bool:
    """PostgreSQL: a referenced row was deleted by a transaction that committed meanwhile."""
    return getattr(_original(exc), "pgcode", None) == "23503"


def retrying(fn: Callable[[], T], *, what: str = "the database", seconds: float | None = None,
             db: pw.Database | None = None, derived: bool = False) -> T:
    """Run ``fn`` (one whole top-level transaction), retrying transient failures.

    Inside an open transaction nothing is retried (the caller's transaction is
    already lost): the error propagates to the outermost :func:`retrying`.
    ``derived=True`` (memberships: rows derived from others) also retries a
    foreign-key failure: PostgreSQL checks the key against the latest commit,
    so an issue deleted by a sync that committed meanwhile fails the insert;
    the next try reads the sync's result.
    """
    db = _db(db)
    if db.transaction_depth() > 0:
        return fn()
    limit = RETRY_SECONDS if seconds is None else seconds
    start = time.monotonic()
    delay = 0.02
    while True:
        try:
            return fn()
        except (pw.DatabaseError, sqlite3.DatabaseError) as exc:
            if not (is_transient(exc) or (derived and is_foreign_key_race(exc))):
                raise
            if time.monotonic() - start >= limit:
                message = (str(_original(exc)).strip() or type(exc).__name__).splitlines()[0]
                raise RunError(f"{what}: the database stayed busy for {int(limit)} s ({message}); "
                               "try again") from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

