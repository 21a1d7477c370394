"""Versioned schema migrations, applied when a database is opened.

* A new, empty database gets the current schema straight from the models
  (:data:`cache.models.ALL_MODELS`) and is stamped :data:`LATEST`.
* A database stamped with an older version runs every step after its
  version, in order, each in its own transaction, and is re-stamped after
  each step: an interrupted upgrade resumes where it stopped.
* A database stamped with a newer version than this code knows is refused
  (it was made by a newer TicketBook); a database with tables but no stamp is
  not TicketBook's and is refused.  Nothing is ever dropped to "start over".

Adding a schema change: change the model in :mod:`cache.models`, then append
``(N, "what", function)`` to :data:`STEPS` doing the same change with
``playhouse.migrate`` (portable across SQLite and PostgreSQL).  The v1
fixture test (``tests/fixtures/schema_v1.db``) proves the whole chain brings
a first-version database to exactly the schema a fresh one gets.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from tickets.errors import InputError, RunError

def _migrator(db: pw.Database):
    from playhouse.migrate import SchemaMigrator

    return SchemaMigrator.from_database(db)


def _v2_contract_notes_unique_positions(db: pw.Database) -> None:
    """Contract.notes; clause and amend positions unique per parent.

    The column is added in place (``ADD COLUMN ... NOT NULL DEFAULT ''``):
    no table rebuild, so no cascade can touch the clauses of a contract.
    """
    from playhouse.migrate import migrate as run

    m = _migrator(db)
    notes = pw.TextField(default="", constraints=[pw.SQL("DEFAULT ''")])
    run(
        m.add_column("contract", "notes", notes, allow_not_null=True),
        m.drop_index("clause", "clause_contract_id_position"),
        m.add_index("clause", ("contract_id", "position"), unique=True),
        m.add_index("amend", ("clause_id", "position"), unique=True),
    )


def _v3_clause_memberships(db: pw.Database) -> None:
    """ClauseEval and ClauseMatch: how each clause's JQL was evaluated and which issues match."""
    from cache.models import ClauseEval, ClauseMatch

    db.create_tables([ClauseEval, ClauseMatch])


# (version, description, step(db)) — append only, never edit a released step.
# A step runs inside a transaction; on SQLite foreign-key enforcement is off
# while steps run (so a table rebuild cannot cascade) and the foreign keys are
# checked after each step.
STEPS: list[tuple[int, str, Callable[[pw.Database], None]]] = [
    (2, "contract.notes; unique clause/amend positions", _v2_contract_notes_unique_positions),
    (3, "clause_eval and clause_match (JQL memberships)", _v3_clause_memberships),
]

FIRST_VERSION = 1
LATEST = max([FIRST_VERSION] + [v for v, _, _ in STEPS])


def schema_version(db: pw.Database) -> int | None:
    """The stamped version, or None for an empty database.

    Raises InputError for a database that has tables but no TicketBook stamp.
    """
    tables = set(db.get_tables())
    if not tables:
        return None
    if "meta" not in tables:
        raise InputError("--db: this database was not made by TicketBook (no schema version); refusing to touch it")
    row = db.execute_sql("SELECT value FROM meta WHERE key = %s" % db.param, ("schema_version",)).fetchone()
    if row is None:
        raise InputError("--db: this database has no TicketBook schema version; refusing to touch it")
    return int(row[0])


def _stamp(db: pw.Database, version: int) -> None:
    from cache.models import Meta

    Meta.insert(key="schema_version", value=str(version)).on_conflict(
        conflict_target=[Meta.key], update={Meta.value: str(version)}
    ).execute()


def migrate(db: pw.Database) -> int:
    """Bring ``db`` to :data:`LATEST`; return the version it had (0 when new)."""
    from cache.models import ALL_MODELS

    version = schema_version(db)
    if version is None:
        with db.atomic():
            db.create_tables(ALL_MODELS)
            _stamp(db, LATEST)
        return 0
    if version > LATEST:
        raise RunError(
            f"the database has schema version {version}, newer than this TicketBook knows ({LATEST}); upgrade TicketBook"
        )
    pending = [(v, d, step) for v, d, step in STEPS if v > version]
    if not pending:
        return version
    sqlite = isinstance(db, pw.SqliteDatabase)
    fks = sqlite and bool(db.pragma("foreign_keys"))
    if fks:  # only effective outside a transaction; see sqlite.org/lang_altertable.html
        db.pragma("foreign_keys", 0)
    try:
        for step_version, description, step in pending:
            with db.atomic():
                step(db)
                if sqlite:
                    bad = db.execute_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RunError(f"schema upgrade to version {step_version} ({description}) "
                                       f"broke {len(bad)} foreign key(s); nothing of that step was applied")
                _stamp(db, step_version)
    finally:
        if fks:
            db.pragma("foreign_keys", 1)
    return version
