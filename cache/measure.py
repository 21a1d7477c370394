"""Per clause and period measurements, as grouped SQL over the cache.

``measure_contract(contract_id, contract, periods)`` returns, per clause name,
one :class:`tickets.report.Measurement` per period:

* ``issues``: issues matching the clause (``ClauseMatch`` rows, kept by
  :mod:`cache.membership`) whose ``created`` lies in the period;
* ``seconds``: the sum of ``time_spent_seconds`` of every worklog on those
  issues, whenever the work was logged (hours follow the issue's creation
  period);
* ``breached``: those issues failing the clause's SLAs: an issue fails when
  any selected SLA (``clause.sla`` names) has a breached cycle, completed or
  ongoing.  An SLA absent from an issue (no ``SlaCycle`` rows) cannot fail it.

How: ``ClauseMatch`` rows carry the facts (``created``, ``worklog_seconds``,
``breached`` for the clause's SLAs; kept by :mod:`cache.membership` and the
sync, proven by :func:`check_consistency`), so measuring reads that one
narrow table through its covering index ``(clause, created,
worklog_seconds, breached)`` and nothing else: per period one ``SELECT
clause, COUNT(*) [, SUM(worklog_seconds) | , SUM(breached)] ... WHERE
clause IN (...) AND created >= start AND created < end GROUP BY clause``
(an index range scan per clause), the periods' terms joined by ``UNION
ALL`` into one statement per clause kind (count / hours / SLA: only the
aggregate a kind needs is computed).  Period boundaries are the periods'
start/end instants converted to naive UTC (the cache's convention); issues
created before the first period or at/after the last one's end fall in no
range and count nowhere, and an empty period (``start_utc == end_utc``,
days that do not exist in the zone) gets none.
Nothing is bucketed in Python and no issue row leaves the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee as pw

from cache.models import Clause as ClauseRow
from cache.db import database
from cache.membership import check_consistency
from cache.models import ClauseMatch, Issue
from tickets.model import Clause, ClauseType, Contract
from tickets.periods import Period
from tickets.report import Measurement

__all__ = ["check_consistency", "clause_ids", "measure_contract", "naive_utc", "period_case"]


def naive_utc(instant: dt.datetime) -> dt.datetime:
    """An aware instant as the cache stores it (naive UTC)."""
    if instant.tzinfo is None:
        return instant
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def period_case(periods: Sequence[Period], column: pw.Field = Issue.created) -> pw.Node:
    """The period index of ``column`` as a balanced, nested SQL ``CASE``.

    A binary search over the periods' start instants (naive UTC): at most
    ``ceil(log2(n))`` comparisons per row instead of ``n / 2`` on average
    for a flat ``CASE WHEN created < end_0 THEN 0 WHEN ...``.  The result is
    the last period whose start is ``<= created``, so an empty period (start
    == next start) is never chosen.  Only meaningful for
    ``created`` within ``[start_0, end_last)`` (measure_contract range-scans instead).
    """
    starts = [naive_utc(p.start_utc) for p in periods]
    index = [p.index for p in periods]

    def node(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return index[lo]
        mid = (lo + hi) // 2
        return pw.Case(None, [(column < starts[mid], node(lo, mid))], node(mid, hi))

    top = node(0, len(periods))
    return top if isinstance(top, pw.Node) else pw.Value(top)


def clause_ids(contract_id: int, contract: Contract) -> dict[str, int]:
    """Clause row ids of a stored contract, by clause name (in ``contract.clauses`` order).

    Rows are matched to the domain clauses by position, and checked by name.
    """
    rows = list(ClauseRow.select(ClauseRow.id, ClauseRow.name, ClauseRow.position)
                .where(ClauseRow.contract == contract_id).order_by(ClauseRow.position))
    if len(rows) != len(contract.clauses) or any(
            r.name.casefold() != c.name.casefold() for r, c in zip(rows, contract.clauses)):
        raise ValueError(f"contract {contract.name!r}: stored clauses differ from the loaded contract "
                         "(changed meanwhile?)")
    return {c.name: r.id for r, c in zip(rows, contract.clauses)}


#: bound parameters per query at most (SQLite builds before 3.32 allow 999), and
#: compound SELECT terms (SQLite's SQLITE_MAX_COMPOUND_SELECT is 500)
MAX_PARAMS = 900
MAX_TERMS = 100


def _period_term(kind: str, clause_ids_: list[int], index: int, period: Period) -> pw.SelectQuery:
    """One period's figures per clause: a range scan of the covering index per clause.

    Columns: clause, period position, issues, seconds, breached; ``kind``
    (``count`` / ``hours`` / ``sla``) says which aggregates are really
    computed (the others are 0: aggregating costs about as much as scanning).
    """
    m = ClauseMatch
    zero = pw.SQL("0")
    seconds = pw.fn.COALESCE(pw.fn.SUM(m.worklog_seconds), zero) if kind == "hours" else zero
    bad = pw.fn.SUM(pw.Case(None, [(m.breached, pw.SQL("1"))], zero)) if kind == "sla" else zero
    return (m.select(m.clause, pw.Value(index), pw.fn.COUNT(pw.SQL("*")), seconds, bad)
            .where(m.clause.in_(clause_ids_) & (m.created >= naive_utc(period.start_utc))
                   & (m.created < naive_utc(period.end_utc)))
            .group_by(m.clause))


def _term_params(clause_ids_: list[int], index: int, period: Period) -> list:
    """The parameters of :func:`_period_term`, in the order its SQL takes them."""
    created = ClauseMatch.created.db_value
    return [index, *clause_ids_, created(naive_utc(period.start_utc)), created(naive_utc(period.end_utc))]


def _measure_sql(kind: str, clause_ids_: list[int], terms: list[tuple[int, Period]]) -> tuple[str, list]:
    """``term UNION ALL term ...`` for ``terms`` (period position, period).

    Every term has the same SQL text with its own parameters: peewee renders
    the first one and the text is repeated (rendering 60 terms through the
    query builder costs more than running them); should the parameters ever
    not come out in :func:`_term_params`' order, each term is rendered.
    """
    sql, params = _period_term(kind, clause_ids_, *terms[0]).sql()
    if list(params) != _term_params(clause_ids_, *terms[0]):  # pragma: no cover - a peewee change
        parts = [_period_term(kind, clause_ids_, *t).sql() for t in terms]
        return " UNION ALL ".join(p[0] for p in parts), [v for p in parts for v in p[1]]
    return (" UNION ALL ".join([sql] * len(terms)),
            [v for t in terms for v in _term_params(clause_ids_, *t)])


def _kind(clause: Clause) -> str:
    if clause.type is ClauseType.SERVICE_HOURS:
        return "hours"
    if clause.type is ClauseType.SLA_SUCCESS_RATE:
        return "sla"
    return "count"


def measure_contract(contract_id: int, contract: Contract,
                     periods: Sequence[Period]) -> dict[str, list[Measurement]]:
    """Measurements of every clause of a stored contract (see the module docstring).

    Clauses without evaluated memberships simply have no ``ClauseMatch`` rows
    and measure zero; the report marks them invalid/pending from their status.
    """
    ids = clause_ids(contract_id, contract)
    n = len(periods)
    out: dict[str, list[Measurement]] = {c.name: [Measurement()] * n for c in contract.clauses}
    if n == 0 or not contract.clauses:
        return out
    by_id = {ids[c.name]: c for c in contract.clauses}
    groups: dict[str, list[int]] = {}
    for cid in sorted(by_id):
        groups.setdefault(_kind(by_id[cid]), []).append(cid)
    live = [(pos, p) for pos, p in enumerate(periods) if p.end_utc > p.start_utc]
    for kind, cids in groups.items():
        per_query = max(1, min(MAX_TERMS, MAX_PARAMS // (len(cids) + 3)))
        for i in range(0, len(live), per_query):
            sql, params = _measure_sql(kind, cids, live[i:i + per_query])
            for cid, pos, count, seconds, bad in database.execute_sql(sql, params).fetchall():
                out[by_id[cid].name][int(pos)] = Measurement(issues=int(count), seconds=int(seconds or 0),
                                                             breached=int(bad or 0))
    return out
