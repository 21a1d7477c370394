"""Clause memberships: which cached issues match each clause's JQL.

Tables (:mod:`cache.models`): :class:`ClauseEval` (one row per clause: the
JQL evaluated, ``mode`` local/jira/invalid/pending, ``error``,
``evaluated_at``) and :class:`ClauseMatch` (clause, issue, and the facts
measurement reads: the issue's ``created``, its worklog seconds, whether it
fails the clause's SLAs; computed from the source rows whenever a row is
written, refreshed by :func:`refresh_facts` when a sync changes an issue's
worklogs or fields, proven by :func:`check_consistency`).

* **local**: the JQL compiles to SQL (:mod:`cache.jqlsql`); matches are
  written with one ``INSERT ... SELECT``.
* **jira**: the JQL needs Jira (``~``, ``WAS``/``CHANGED``, ``membersOf()``,
  an unknown value...): with a client, ``POST /rest/api/3/jql/match`` over
  the cached issue ids in batches of :data:`JIRA_BATCH` decides; the report
  says "evaluated by Jira at <time>".  Without a client the clause is
  ``pending`` (``error`` names the construct).
* **invalid**: a syntax error, a bad date, or Jira rejected the JQL
  (``error`` says why).  The clause itself stays saved.

:func:`ensure_contract` (re)evaluates stale clauses (no ClauseEval, an edited
JQL, a pending one when a client is given, or one whose result depends on
the current time: local always, jira when a client is given);
:func:`after_sync` re-evaluates only the issues a sync changed.  The sync
keeps the ids still to be re-asked to Jira in ``jira_recheck``
(:func:`mark_jira_recheck`, :func:`clear_jira_recheck`), so a failed or
cancelled run does not lose them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import peewee as pw

from cache import dialect
from cache.db import database
from cache.jqlsql import JqlContext, JqlInvalid, compile_query, run_guarded
from cache.models import Clause, ClauseEval, ClauseMatch, Issue, JiraRecheck, SlaCycle, Worklog
from tickets.errors import RunError
from tickets.jql import JqlSyntaxError, parse
from tickets.jql.ast import And, FunctionCall, ListValue, Not, Or, Terminal, Value
from tickets.jql.semantics import NeedsJira, function_kind, parse_period

JIRA_BATCH = 1000  # issueIds per /jql/match request (Jira Cloud rejects larger lists with 400)
SQL_BATCH = 500  # ids per IN (...) list (SQLite's default variable limit is 999 on old builds)

LOCAL, JIRA, INVALID, PENDING = "local", "jira", "invalid", "pending"


class NotLocal(RunError):
    """The JQL cannot be evaluated from the cache (exit 1); ``reason`` names the construct."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"needs Jira: {reason}")
        self.reason = reason


class JiraRejected(Exception):
    """Jira answered /jql/match with errors for the query."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def classify(jql: str, ctx: JqlContext) -> tuple[str, Any]:
    """``("local", expr)``, ``("jira", reason)`` or ``("invalid", message)``; resets ``ctx.time_dependent``."""
    ctx.time_dependent = False
    try:
        query = parse(jql)
    except JqlSyntaxError as err:
        return INVALID, err.message
    try:
        return LOCAL, compile_query(query, ctx)
    except NeedsJira as exc:
        return JIRA, exc.reason
    except JqlInvalid as exc:
        return INVALID, str(exc)


# ---------------------------------------------------------------------------- time dependence

#: remote functions whose answer moves with the clock (or with events that do not touch the issue)
_CLOCK_FUNCTIONS = frozenset({"currentlogin", "lastlogin"})
_ABSOLUTE_DATE = re.compile(r"^\s*\d{4}[/-]")
_LIKE = ("~", "!~")


def _relative_literal(text: str) -> bool:
    """``"-1d"``, ``"4w 2d"``, ``"+3h"``: a period (relative to now), not an absolute date or a bare number."""
    if _ABSOLUTE_DATE.match(text) or not re.search(r"[A-Za-z+-]", text):
        return False
    return parse_period(text) is not None


def _operand_moves(item: Any, *, text_ok: bool) -> bool:
    if isinstance(item, ListValue):
        return any(_operand_moves(i, text_ok=text_ok) for i in item.items)
    if isinstance(item, FunctionCall):
        kind = function_kind(item.name)
        if kind == "date" or item.name.casefold() in _CLOCK_FUNCTIONS:
            return True
        # updatedBy(user, "-1d"), ...: a relative period among the arguments
        return any(not a.number and _relative_literal(a.text) for a in item.args)
    if isinstance(item, Value):
        return text_ok and not item.number and _relative_literal(item.text)
    return False


def time_dependent(jql: str) -> bool:
    """The query's result moves with the clock: a relative date literal (``-1d``, ``"4w 2d"``) or a
    date function (``now()``, ``startOf*``/``endOf*``) anywhere in it (operands, ``WAS``/``CHANGED``
    predicates, function arguments), or ``currentLogin()``/``lastLogin()``.

    Read from the parsed tree, so it also holds for queries only Jira evaluates (the compiler's
    ``ctx.time_dependent`` stops at the first construct that needs Jira).  Conservative: a
    period-looking string compared with a non-date field counts too (one extra re-ask, never a
    stale count); text searches (``~``) do not.  False for a query that does not parse.
    """
    try:
        query = parse(jql)
    except JqlSyntaxError:
        return False

    def walk(node: Any) -> bool:
        if isinstance(node, (And, Or)):
            return any(walk(c) for c in node.clauses)
        if isinstance(node, Not):
            return walk(node.clause)
        if isinstance(node, Terminal):
            if node.operand is not None and _operand_moves(node.operand, text_ok=node.op not in _LIKE):
                return True
            return any(_operand_moves(p.operand, text_ok=True) for p in node.predicates)
        return False

    return query.where is not None and walk(query.where)


# ---------------------------------------------------------------------------- Jira


def jira_match(client: Any, jql: str, issue_ids: Iterable[int]) -> set[int]:
    """Ids among ``issue_ids`` Jira says match ``jql`` (``/jql/match``, batched); JiraRejected on errors."""
    ids = sorted(set(int(i) for i in issue_ids))
    matched: set[int] = set()
    for batch in _chunks(ids, JIRA_BATCH):
        if hasattr(client, "jql_match"):
            answer = client.jql_match(batch, [jql])
        else:
            answer = client.post("/rest/api/3/jql/match", {"issueIds": batch, "jqls": [jql]})
        matches = answer.get("matches") if isinstance(answer, dict) else None
        if not isinstance(matches, list) or len(matches) != 1 or not isinstance(matches[0], dict):
            raise RunError("Jira sent an unexpected answer for /jql/match")
        errors = matches[0].get("errors") or []
        if errors:
            raise JiraRejected("; ".join(str(e) for e in errors))
        matched.update(int(i) for i in matches[0].get("matchedIssues") or [])
    return matched


def _all_issue_ids() -> list[int]:
    return [r[0] for r in Issue.select(Issue.id).order_by(Issue.id).tuples()]


# ---------------------------------------------------------------------------- Jira re-match backlog
# A sync page marks the issues it stored (in the page's transaction); the end of the run re-asks
# Jira about them for every jira clause and only then unmarks them.  A run that dies in between
# leaves them marked, and the next run (whatever it fetches) re-asks first.


def mark_jira_recheck(issue_ids: Iterable[int]) -> None:
    """In the caller's transaction: Jira-evaluated clauses must be re-asked about ``issue_ids``."""
    ids = sorted({int(i) for i in issue_ids})
    for batch in _chunks(ids, SQL_BATCH):
        JiraRecheck.insert_many([(i,) for i in batch], fields=[JiraRecheck.issue]).on_conflict_ignore().execute()


def jira_recheck_ids() -> list[int]:
    """The issues still waiting for the Jira re-match (cached issues only: deleting one drops its row)."""
    return [int(i) for (i,) in JiraRecheck.select(JiraRecheck.issue).order_by(JiraRecheck.issue).tuples()]


def clear_jira_recheck(issue_ids: Iterable[int]) -> None:
    """The Jira re-match of ``issue_ids`` succeeded: unmark them."""
    ids = sorted({int(i) for i in issue_ids})
    for batch in _chunks(ids, SQL_BATCH):
        JiraRecheck.delete().where(JiraRecheck.issue.in_(batch)).execute()


# ---------------------------------------------------------------------------- evaluation


def _save_eval(clause_id: int, jql: str, mode: str, error: str | None, at: dt.datetime | None) -> None:
    ClauseEval.insert(clause=clause_id, jql=jql, mode=mode, error=error, evaluated_at=at).on_conflict(
        conflict_target=[ClauseEval.clause],
        update={ClauseEval.jql: jql, ClauseEval.mode: mode, ClauseEval.error: error,
                ClauseEval.evaluated_at: at}).execute()


# ---------------------------------------------------------------------------- facts
# Every ClauseMatch row carries the facts measurement needs (created, worklog
# seconds, SLA failure for the clause's SLAs), computed here from the source
# rows when the row is written and refreshed for the issues a sync changes.


def _sla_names(sla: Any) -> list[str]:
    if isinstance(sla, str):  # the raw JSON text, when read through an alias
        sla = json.loads(sla)
    return sorted({str(n) for n in (sla or [])})


def _clause_sla(clause_id: int) -> list[str]:
    row = Clause.select(Clause.sla).where(Clause.id == clause_id).tuples().first()
    return _sla_names(row[0] if row else None)


def _seconds_of(issue_col: Any) -> pw.Node:
    """``SUM(time_spent_seconds)`` of the issue ``issue_col`` (0 without worklogs), as a scalar subquery."""
    w = Worklog.alias("tb_w")
    return w.select(pw.fn.COALESCE(pw.fn.SUM(w.time_spent_seconds), 0)).where(w.issue == issue_col)


def _breached_of(issue_col: Any, names: list[str]) -> pw.Node:
    """The issue ``issue_col`` has a breached cycle (completed or ongoing) of one of the SLAs ``names``."""
    if not names:
        return pw.Value(False)
    s = SlaCycle.alias("tb_s")
    return pw.fn.EXISTS(s.select(pw.SQL("1")).where(
        # names ignore case (LOWER on both sides; the exact names too: SQLite's LOWER folds ASCII only)
        (s.issue == issue_col) & pw.fn.LOWER(s.sla_name).in_(sorted(set(names) | {n.lower() for n in names}))
        & (s.breached == True)))  # noqa: E712 - SQL boolean


_FACT_COLUMNS = [ClauseMatch.clause, ClauseMatch.issue, ClauseMatch.created, ClauseMatch.worklog_seconds,
                 ClauseMatch.breached]


def _insert_where(clause_id: int, where: Any, sla: list[str]) -> None:
    query = Issue.select(pw.Value(clause_id), Issue.id, Issue.created, _seconds_of(Issue.id),
                         _breached_of(Issue.id, sla)).where(where)
    ClauseMatch.insert_from(query, _FACT_COLUMNS).on_conflict_ignore().execute()


def _insert_local(clause_id: int, expr: Any, issue_ids: list[int] | None = None,
                  sla: list[str] | None = None) -> None:
    where = expr if issue_ids is None else (expr & Issue.id.in_(issue_ids))
    _insert_where(clause_id, where, _clause_sla(clause_id) if sla is None else sla)


def _insert_ids(clause_id: int, ids: Iterable[int], sla: list[str] | None = None) -> None:
    names = _clause_sla(clause_id) if sla is None else sla
    for batch in _chunks(sorted(set(ids)), SQL_BATCH):
        _insert_where(clause_id, Issue.id.in_(batch), names)


def refresh_facts(issue_ids: Iterable[int], *, skip_clauses: Iterable[int] = ()) -> None:
    """Recompute the facts of every ClauseMatch row of ``issue_ids`` from the source rows.

    Called by the sync (in its transaction) for issues whose fields, SLA
    cycles or worklogs changed; ``skip_clauses``: clauses whose rows of these
    issues were just rewritten.
    """
    ids = sorted({int(i) for i in issue_ids})
    skip = sorted({int(c) for c in skip_clauses})
    if not ids:
        return
    _lock_clauses_with_rows(ids, skip)
    sla_by_clause: dict[int, list[str]] | None = None
    for batch in _chunks(ids, SQL_BATCH):
        where = ClauseMatch.issue.in_(batch)
        if skip:
            where &= ClauseMatch.clause.not_in(skip)
        i = Issue.alias("tb_i")
        ClauseMatch.update({
            ClauseMatch.created: i.select(i.created).where(i.id == ClauseMatch.issue),
            ClauseMatch.worklog_seconds: _seconds_of(ClauseMatch.issue),
        }).where(where).execute()
        present = [c for (c,) in ClauseMatch.select(ClauseMatch.clause).distinct().where(where).tuples()]
        if not present:
            continue
        if sla_by_clause is None:
            sla_by_clause = {cid: _sla_names(sla) for cid, sla in Clause.select(Clause.id, Clause.sla).tuples()}
        for cid in present:
            ClauseMatch.update({ClauseMatch.breached: _breached_of(ClauseMatch.issue, sla_by_clause.get(cid, []))}
                               ).where(where & (ClauseMatch.clause == cid)).execute()


def _lock_clauses_with_rows(issue_ids: list[int], skip: list[int]) -> None:
    """PostgreSQL: lock (``FOR KEY SHARE``, in id order) the clauses having rows of ``issue_ids``.

    :func:`refresh_facts` updates those rows twice in one transaction, and
    PostgreSQL re-checks the foreign key of a row already written by the same
    transaction, taking a ``KEY SHARE`` lock on its clause then.  A clause
    created after the sync locked the clauses (a contract saved meanwhile)
    would be locked only there, mid-statement, after the sync already holds
    row locks on ``clause_match`` that a concurrent save's cascade waits for:
    a deadlock.  Locking them up front, before any row is touched, makes the
    save and the sync queue on the clause rows instead.  A clause deleted
    meanwhile is skipped (its rows went with it).  SQLite: nothing to do.
    """
    if not dialect.is_postgres():
        return
    clauses: set[int] = set()
    for batch in _chunks(issue_ids, SQL_BATCH):
        query = ClauseMatch.select(ClauseMatch.clause).distinct().where(ClauseMatch.issue.in_(batch))
        clauses.update(c for (c,) in query.tuples())
    clauses.difference_update(skip)
    for batch in _chunks(sorted(clauses), SQL_BATCH):
        list(dialect.lock_referenced(Clause.select(Clause.id).where(Clause.id.in_(batch)).order_by(Clause.id))
             .tuples())


def check_consistency(*, limit: int = 20) -> list[str]:
    """Up to ``limit`` ClauseMatch rows whose facts differ from the source rows (empty: consistent)."""
    problems: list[str] = []
    for cid, sla in Clause.select(Clause.id, Clause.sla).order_by(Clause.id).tuples():
        i = Issue.alias("tb_i")
        created = i.select(i.created).where(i.id == ClauseMatch.issue)
        seconds = _seconds_of(ClauseMatch.issue)
        bad = _breached_of(ClauseMatch.issue, _sla_names(sla))
        wrong = (ClauseMatch.created.is_null() | (ClauseMatch.created != created)
                 | (ClauseMatch.worklog_seconds != seconds) | (ClauseMatch.breached != bad))
        query = (ClauseMatch.select(ClauseMatch.issue, ClauseMatch.created, ClauseMatch.worklog_seconds,
                                    ClauseMatch.breached, seconds.alias("expected_seconds"))
                 .where((ClauseMatch.clause == cid) & wrong).order_by(ClauseMatch.issue)
                 .limit(limit - len(problems)).tuples())
        for iid, at, secs, b, secs2 in query:
            problems.append(f"clause {cid} issue {iid}: stored created={at} seconds={secs} breached={bool(b)} "
                            f"(worklogs sum to {secs2})")
        if len(problems) >= limit:
            break
    return problems


def evaluate_clause(clause_id: int, jql: str, ctx: JqlContext, *, client: Any = None) -> ClauseEval | None:
    """Evaluate one clause from scratch and store its ClauseEval and ClauseMatch rows.

    None when the clause was deleted meanwhile (a concurrent save of its contract).
    """
    mode, detail = classify(jql, ctx)
    now = _utcnow()
    if mode == JIRA and client is not None:
        ids = _all_issue_ids()
        try:
            matched = jira_match(client, jql, ids)
        except JiraRejected as exc:
            mode, detail = INVALID, f"Jira rejected the JQL: {exc}"
        except RunError as exc:  # Jira unreachable, 5xx...: stays pending, says why
            mode, detail = PENDING, f"{detail} (Jira could not be asked: {exc})"
        else:
            def store_jira() -> None:
                ClauseMatch.delete().where(ClauseMatch.clause == clause_id).execute()
                _insert_ids(clause_id, matched & set(ids))
                _save_eval(clause_id, jql, JIRA, None, now)

            if not _write_claimed(clause_id, store_jira):
                return None
            return ClauseEval.get_or_none(ClauseEval.clause == clause_id)
    elif mode == JIRA:
        mode = PENDING

    def store() -> None:
        ClauseMatch.delete().where(ClauseMatch.clause == clause_id).execute()
        if mode == LOCAL:
            # SQL too complex for the database (a ~100-term OR...): this clause is invalid, not the run
            failed = run_guarded(lambda: _insert_local(clause_id, detail))
            if failed is None:
                _save_eval(clause_id, jql, LOCAL, None, now)
            else:
                _save_eval(clause_id, jql, INVALID, failed, None)
        else:
            _save_eval(clause_id, jql, mode, detail, None)

    if not _write_claimed(clause_id, store):
        return None
    return ClauseEval.get_or_none(ClauseEval.clause == clause_id)


def _write_claimed(clause_id: int, write: Callable[[], None]) -> bool:
    """``write()`` in a write transaction that first claims the clause (:func:`_claim`), retried as a
    whole on a transient failure or a foreign-key race.  False (nothing written) when the clause is gone."""
    def once() -> bool:
        with dialect.write_transaction():
            if not _claim(clause_id):
                return False
            write()
        return True

    return dialect.retrying(once, what="evaluating a clause", derived=True)


def _claim(clause_id: int) -> bool:
    """In a write transaction: the clause still exists, and (PostgreSQL) is ours until commit.

    A contract saved meanwhile by someone else replaced its clauses (new ids):
    nothing is written for the old one (its rows would break the foreign key).
    PostgreSQL: ``FOR UPDATE`` makes a save, a sync page and another session
    evaluating the same clause wait here, before any membership row is
    touched, so they cannot deadlock on those rows.
    """
    query = Clause.select(Clause.id).where(Clause.id == clause_id)
    return bool(list(dialect.lock_for_update(query).tuples()))


def _is_stale(ev: ClauseEval | None, jql: str, ctx: JqlContext, client: Any) -> bool:
    if ev is None or ev.jql != jql:
        return True
    if ev.mode == PENDING and client is not None:
        return True
    if ev.mode == LOCAL:
        mode, _ = classify(jql, ctx)
        return mode != LOCAL or ctx.time_dependent  # "created >= -7d" moves with the clock
    if ev.mode == JIRA and client is not None:
        # "created >= -1d AND summary ~ x": Jira's answer moves with the clock too; with a
        # client (every sync) it is asked again over every cached issue.
        return time_dependent(jql)
    return False


def ensure_contract(contract_id: int, *, client: Any = None, today: dt.date | None = None,
                    ctx: JqlContext | None = None) -> dict[int, ClauseEval]:
    """(Re)evaluate the stale clauses of one contract; return every clause's ClauseEval by clause id."""
    ctx = ctx or JqlContext.from_db(today=today)
    out: dict[int, ClauseEval] = {}
    clauses = list(Clause.select(Clause.id, Clause.jql).where(Clause.contract == contract_id).order_by(Clause.position))
    evals = {ev.clause_id: ev for ev in
             ClauseEval.select().where(ClauseEval.clause.in_([c.id for c in clauses]))} if clauses else {}
    for c in clauses:
        ev = evals.get(c.id)
        jql = c.jql or ""
        if _is_stale(ev, jql, ctx, client):
            ev = evaluate_clause(c.id, jql, ctx, client=client)
            if ev is None:  # the contract was saved meanwhile: that clause is gone
                continue
        out[c.id] = ev
    return out


def ensure_all(*, client: Any = None, today: dt.date | None = None) -> None:
    """:func:`ensure_contract` for every contract that has clauses."""
    from cache.models import Contract

    ctx = JqlContext.from_db(today=today)
    # list(): a query still being iterated keeps SQLite's read snapshot open, and a write from
    # that connection then fails at once ("database is locked") once anyone else has committed.
    for (cid,) in list(Contract.select(Contract.id).order_by(Contract.id).tuples()):
        ensure_contract(cid, client=client, ctx=ctx)


def clause_state(clause_id: int) -> tuple[bool, str | None, str | None]:
    """``(valid, error, evaluated_by)`` for :class:`tickets.report.ClauseStatus`.

    Local: ``(True, None, None)``; Jira: ``(True, None, "jira at <ISO>Z")``;
    invalid: ``(False, reason, None)``; pending / never evaluated:
    ``(False, "needs Jira: ...", None)`` / ``(False, "not evaluated yet", None)``.
    A row whose JQL no longer matches the clause's counts as not evaluated.
    """
    ev = ClauseEval.get_or_none(ClauseEval.clause == clause_id)
    clause = Clause.get_or_none(Clause.id == clause_id)
    if ev is None or clause is None or ev.jql != (clause.jql or ""):
        return False, "not evaluated yet", None
    if ev.mode == LOCAL:
        return True, None, None
    if ev.mode == JIRA:
        at = ev.evaluated_at
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        stamp = at.replace(microsecond=0).isoformat() + "Z" if at else "?"
        return True, None, f"jira at {stamp}"
    if ev.mode == PENDING:
        return False, f"needs Jira ({ev.error}); configure Jira and sync to evaluate it", None
    return False, ev.error or "invalid JQL", None


# ---------------------------------------------------------------------------- incremental


def after_sync(changed_issue_ids: Iterable[int], deleted_issue_ids: Iterable[int], *, client: Any = None,
               today: dt.date | None = None, local: bool = True) -> None:
    """Bring memberships up to date for the issues one sync page (or run) touched.

    Deleted issues lose their rows (the foreign key cascades too).  For
    every up-to-date **local** clause the changed ids are re-matched with the
    compiled expression (``DELETE`` + ``INSERT ... SELECT ... AND id IN
    batch``).  With a ``client``, every up-to-date **jira** clause is re-asked
    with ``/jql/match`` on those ids.  ``local=False`` skips the local part
    (for a second call outside the sync transaction that only talks to Jira).
    Stale or never evaluated clauses are left to :func:`ensure_contract`.
    """
    changed = sorted({int(i) for i in changed_issue_ids})
    deleted = sorted({int(i) for i in deleted_issue_ids})
    with database.atomic():
        for batch in _chunks(deleted, SQL_BATCH):
            ClauseMatch.delete().where(ClauseMatch.issue.in_(batch)).execute()
            JiraRecheck.delete().where(JiraRecheck.issue.in_(batch)).execute()
    if not changed:
        return
    ctx = JqlContext.from_db(today=today)
    ctx.correlated = True  # a few ids: correlated EXISTS beats materialising IN (SELECT ...)
    # PostgreSQL: the clauses stay (no concurrent save deletes them) until the sync page commits;
    # locked in id order, as a contract save locks them.
    rows = list(dialect.lock_referenced(
        ClauseEval.select(ClauseEval, Clause.jql.alias("clause_jql"), Clause.sla.alias("clause_sla"))
        .join(Clause, on=(ClauseEval.clause == Clause.id))
        .where(ClauseEval.jql == Clause.jql).order_by(Clause.id), Clause).objects())
    rewritten: list[int] = []  # clauses whose rows of the changed issues are written anew below
    present = set()
    for batch in _chunks(changed, SQL_BATCH):
        present |= {r[0] for r in Issue.select(Issue.id).where(Issue.id.in_(batch)).tuples()}
    for ev in rows:
        cid = ev.clause_id
        if ev.mode == LOCAL and local:
            mode, expr = classify(ev.jql, ctx)
            if mode != LOCAL:  # e.g. a value vanished from the reference tables: start over
                evaluate_clause(cid, ev.jql, ctx, client=client)
                rewritten.append(cid)
                continue
            def rematch(cid: int = cid, expr: Any = expr, sla: list[str] = _sla_names(ev.clause_sla)) -> None:
                for batch in _chunks(changed, SQL_BATCH):
                    ClauseMatch.delete().where((ClauseMatch.clause == cid) & ClauseMatch.issue.in_(batch)).execute()
                    _insert_local(cid, expr, batch, sla)
            failed = run_guarded(rematch)  # in a savepoint; too complex for the database: the clause is invalid
            if failed is not None:
                with database.atomic():
                    ClauseMatch.delete().where(ClauseMatch.clause == cid).execute()
                    _save_eval(cid, ev.jql, INVALID, failed, None)
            rewritten.append(cid)
        elif ev.mode == JIRA and client is not None:
            try:
                matched = jira_match(client, ev.jql, sorted(present))
            except JiraRejected as exc:
                def store_rejected(cid: int = cid, jql: str = ev.jql, why: str = str(exc)) -> None:
                    ClauseMatch.delete().where(ClauseMatch.clause == cid).execute()
                    _save_eval(cid, jql, INVALID, f"Jira rejected the JQL: {why}", None)
                _write_claimed(cid, store_rejected)
                continue

            # Outside the page transaction: claim the clause row first (as a save and evaluate_clause
            # do), so a concurrent contract save and this write serialise on it instead of deadlocking
            # on the clause_match rows; a clause replaced by a save meanwhile gets nothing.
            def store_matched(cid: int = cid, matched: set = matched, sla: list[str] = _sla_names(ev.clause_sla)) -> None:
                for batch in _chunks(changed, SQL_BATCH):
                    ClauseMatch.delete().where((ClauseMatch.clause == cid) & ClauseMatch.issue.in_(batch)).execute()
                _insert_ids(cid, matched & present, sla)
                ClauseEval.update(evaluated_at=_utcnow()).where(ClauseEval.clause == cid).execute()
            _write_claimed(cid, store_matched)
    if local:  # rows not rewritten above (Jira-evaluated clauses, ...) keep their membership: new facts
        with database.atomic():
            refresh_facts(present, skip_clauses=rewritten)


# ---------------------------------------------------------------------------- ad-hoc queries


def _local_expr(jql: str, today: dt.date | None) -> Any:
    ctx = JqlContext.from_db(today=today)
    query = parse(jql)  # JqlSyntaxError (InputError) propagates
    try:
        return compile_query(query, ctx)
    except NeedsJira as exc:
        raise NotLocal(exc.reason) from None


def count_matches(jql: str, *, today: dt.date | None = None) -> int | str:
    """Number of cached issues matching ``jql``, or why it cannot be evaluated locally (a string)."""
    try:
        expr = _local_expr(jql, today)
    except JqlSyntaxError as err:
        return f"invalid JQL: {err.message}"
    except NotLocal as exc:
        return str(exc)
    except JqlInvalid as exc:
        return f"invalid JQL: {exc}"
    counted: list[int] = []
    # a query too large or too deeply nested for the database: why, not an error (the live count
    # in the clause dialog runs on every keystroke)
    failed = run_guarded(lambda: counted.append(Issue.select(Issue.id).where(expr).count()))
    return failed if failed is not None else counted[0]


def match_keys(jql: str, *, today: dt.date | None = None) -> list[str]:
    """Keys of the cached issues matching ``jql``, in key order (project, then number).

    Raises :class:`tickets.jql.JqlSyntaxError` / :class:`cache.jqlsql.JqlInvalid`
    (exit 2) or :class:`NotLocal` (exit 1).
    """
    expr = _local_expr(jql, today)
    query = (Issue.select(Issue.key).where(expr)
             .order_by(Issue.project_key, pw.fn.LENGTH(Issue.key), Issue.key))
    return [r[0] for r in query.tuples()]


def verify(client: Any, *, contract_id: int | None = None, today: dt.date | None = None
           ) -> list[tuple[str, str, str, bool, bool]]:
    """Compare every locally evaluable clause with Jira's ``/jql/match`` over the cached ids.

    Returns one ``(contract name, clause name, issue key, local says, jira says)``
    per difference.  Clauses needing Jira or invalid are skipped.
    """
    from cache.models import Contract

    ctx = JqlContext.from_db(today=today)
    query = (Clause.select(Clause.id, Clause.name, Clause.jql, Contract.name.alias("contract_name"))
             .join(Contract, on=(Clause.contract == Contract.id)))
    if contract_id is not None:
        query = query.where(Clause.contract == contract_id)
    ids = _all_issue_ids()
    keys = dict(Issue.select(Issue.id, Issue.key).tuples())
    diffs: list[tuple[str, str, str, bool, bool]] = []
    for c in query.order_by(Contract.name, Clause.position).objects():
        mode, expr = classify(c.jql or "", ctx)
        if mode != LOCAL:
            continue
        local_ids = {r[0] for r in Issue.select(Issue.id).where(expr).tuples()}
        try:
            jira_ids = jira_match(client, c.jql or "", ids)
        except JiraRejected as exc:
            raise RunError(f"{c.contract_name} / {c.name}: Jira rejected the JQL: {exc}") from None
        for iid in sorted(local_ids ^ jira_ids):
            diffs.append((c.contract_name, c.name, keys.get(iid, str(iid)), iid in local_ids, iid in jira_ids))
    return diffs
