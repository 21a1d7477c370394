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


def _v4_clause_match_facts(db: pw.Database) -> None:
    """clause_match carries created, worklog_seconds and breached (measurement reads only it);
    covering indexes worklog(issue_id, time_spent_seconds) and
    sla_cycle(issue_id, sla_name, breached) for computing them.

    Columns added in place, then back-filled from the source rows with plain
    SQL (portable; no model code, which may have moved on since), so an
    upgraded database measures exactly as before.
    """
    import json

    from playhouse.migrate import migrate as run

    m = _migrator(db)
    # Covering indexes for the facts' subqueries (the back-fill below uses them too).
    for table, old, new in (("worklog", "worklog_issue_id", ("issue_id", "time_spent_seconds")),
                            ("sla_cycle", "sla_cycle_issue_id_sla_name", ("issue_id", "sla_name", "breached"))):
        present = {i.name for i in db.get_indexes(table)}
        if old in present:
            run(m.drop_index(table, old))
        if "_".join((table,) + new) not in present:
            run(m.add_index(table, new, False))
    # Step 3 creates clause_match from the current model, so a database that ran it with this
    # code already has the columns: add only what is missing.
    have = {c.name for c in db.get_columns("clause_match")}
    indexes = {i.name for i in db.get_indexes("clause_match")}
    ops = []
    if "created" not in have:
        ops.append(m.add_column("clause_match", "created", pw.DateTimeField(null=True)))
    if "worklog_seconds" not in have:
        ops.append(m.add_column("clause_match", "worklog_seconds",
                                pw.BigIntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")]),
                                allow_not_null=True))
    if "breached" not in have:
        ops.append(m.add_column("clause_match", "breached",
                                pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT FALSE")]),
                                allow_not_null=True))
    if "clause_match_clause_id_created_worklog_seconds_breached" not in indexes:
        ops.append(m.add_index("clause_match", ("clause_id", "created", "worklog_seconds", "breached"), False))
    run(*ops)
    db.execute_sql(
        "UPDATE clause_match SET"
        " created = (SELECT i.created FROM issue i WHERE i.id = clause_match.issue_id),"
        " worklog_seconds = COALESCE((SELECT SUM(w.time_spent_seconds) FROM worklog w"
        " WHERE w.issue_id = clause_match.issue_id), 0)")
    for clause_id, sla in db.execute_sql("SELECT id, sla FROM clause").fetchall():
        names = sorted({str(n) for n in (json.loads(sla) if sla else []) or []})
        if not names:
            continue
        marks = ", ".join([db.param] * len(names))
        db.execute_sql(
            "UPDATE clause_match SET breached = EXISTS (SELECT 1 FROM sla_cycle s"
            " WHERE s.issue_id = clause_match.issue_id AND s.breached"
            f" AND s.sla_name IN ({marks})) WHERE clause_id = {db.param}", (*names, clause_id))


def _v5_jira_recheck(db: pw.Database) -> None:
    """jira_recheck: issues a sync stored whose Jira-evaluated clause memberships are still to be re-asked.

    The table is declared here as it is at v5 (not from :mod:`cache.models`,
    which may move on), with the same DDL a fresh database gets.
    """

    class _Issue(pw.Model):
        id = pw.BigIntegerField(primary_key=True)

        class Meta:
            database = db
            table_name = "issue"

    class _JiraRecheck(pw.Model):
        issue = pw.ForeignKeyField(_Issue, primary_key=True, on_delete="CASCADE")

        class Meta:
            database = db
            table_name = "jira_recheck"

    db.create_tables([_JiraRecheck], safe=True)


# (version, description, step(db)) — append only, never edit a released step.
# A step runs inside a transaction; on SQLite foreign-key enforcement is off
# while steps run (so a table rebuild cannot cascade) and the foreign keys are
# checked after each step.
STEPS: list[tuple[int, str, Callable[[pw.Database], None]]] = [
    (2, "contract.notes; unique clause/amend positions", _v2_contract_notes_unique_positions),
    (3, "clause_eval and clause_match (JQL memberships)", _v3_clause_memberships),
    (4, "clause_match: created, worklog_seconds, breached (report facts); covering indexes",
     _v4_clause_match_facts),
    (5, "jira_recheck (issues whose Jira-evaluated memberships are still to be re-asked)", _v5_jira_recheck),
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

    from cache import dialect

    version = schema_version(db)
    if version is None:
        # Several sessions may open a team's new database at once: one creates the schema.
        with dialect.write_transaction(db):
            dialect.migration_lock(db)
            version = schema_version(db)
            if version is None:
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
            with dialect.write_transaction(db):
                dialect.migration_lock(db)  # another session may be running (or have run) this step
                if (schema_version(db) or 0) >= step_version:
                    continue
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
