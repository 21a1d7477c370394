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

How: one aggregate query per group of clauses needing the same figures
(``ClauseMatch JOIN Issue``, ``GROUP BY clause, period``).  The period is a
balanced, nested ``CASE`` over ``Issue.created`` (a binary search on the
periods' start instants, converted to naive UTC (the cache's convention)), so nothing is bucketed in Python and no
issue row leaves the database.  Issues created before the first period's
start or at/after the last period's end are filtered out (they count
nowhere).  Worklog seconds come from a correlated ``SUM`` subquery per
matched issue (index on ``worklog.issue_id``); SLA failure from an
``EXISTS`` on ``SlaCycle`` (index on ``(issue_id, sla_name)``).

An empty period (``start_utc == end_utc``, days that do not exist in the
zone) is never chosen: the search returns the last period starting at or
before ``created``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee as pw

from cache.models import Clause as ClauseRow
from cache.models import ClauseMatch, Issue, SlaCycle, Worklog
from tickets.model import Clause, ClauseType, Contract
from tickets.periods import Period
from tickets.report import Measurement

__all__ = ["clause_ids", "measure_contract", "naive_utc", "period_case"]


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
    == next start) is never chosen.  Only meaningful together with
    :func:`_in_contract` (``created`` within ``[start_0, end_last)``).
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


def _in_contract(periods: Sequence[Period], column: pw.Field = Issue.created) -> pw.Expression:
    return (column >= naive_utc(periods[0].start_utc)) & (column < naive_utc(periods[-1].end_utc))


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


def _worklog_seconds() -> pw.Node:
    w = Worklog.alias("w")
    sub = (w.select(pw.fn.COALESCE(pw.fn.SUM(w.time_spent_seconds), 0))
           .where(w.issue == Issue.id))
    return pw.fn.COALESCE(pw.fn.SUM(sub), 0)


def _breached_flag(sla_names: Sequence[str]) -> pw.Node:
    if not sla_names:
        return pw.Value(0)
    s = SlaCycle.alias("s")
    exists = pw.fn.EXISTS(
        s.select(pw.SQL("1")).where((s.issue == Issue.id) & s.sla_name.in_(list(sla_names))
                                    & (s.breached == True))  # noqa: E712 - SQL boolean
    )
    return pw.fn.SUM(pw.Case(None, [(exists, 1)], 0))


def _group_key(clause: Clause) -> tuple:
    if clause.type is ClauseType.SERVICE_HOURS:
        return ("hours",)
    if clause.type is ClauseType.SLA_SUCCESS_RATE:
        return ("sla", tuple(sorted(set(clause.sla))))
    return ("count",)


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
    groups: dict[tuple, list[Clause]] = {}
    for c in contract.clauses:
        groups.setdefault(_group_key(c), []).append(c)
    by_id = {ids[c.name]: c.name for c in contract.clauses}
    bucket = period_case(periods).alias("p")
    for key, clauses in groups.items():
        cols: list[pw.Node] = [ClauseMatch.clause.alias("cid"), bucket, pw.fn.COUNT(pw.SQL("*")).alias("n")]
        if key[0] == "hours":
            cols.append(_worklog_seconds().alias("secs"))
        elif key[0] == "sla":
            cols.append(_breached_flag(key[1]).alias("bad"))
        # CROSS JOIN + WHERE: the same rows as an inner join (on SQLite and PostgreSQL), but
        # SQLite then keeps the written order: the clause's matches drive, each issue is looked
        # up by id.  Left to itself the planner may scan every issue of the contract's dates
        # (issue_created) and probe clause_match, several times slower on a big cache.
        query = (ClauseMatch.select(*cols)
                 .join(Issue, pw.JOIN.CROSS)
                 .where(ClauseMatch.clause.in_([ids[c.name] for c in clauses])
                        & (ClauseMatch.issue == Issue.id) & _in_contract(periods))
                 .group_by(ClauseMatch.clause, pw.SQL("p"))
                 .tuples())
        rows: dict[str, list[Measurement]] = {c.name: [Measurement()] * n for c in clauses}
        for row in query:
            cid, p, count = row[0], row[1], row[2]
            if p is None:  # cannot happen inside the contract range; defensive
                continue
            seconds = int(row[3]) if key[0] == "hours" else 0
            bad = int(row[3]) if key[0] == "sla" else 0
            rows[by_id[cid]][int(p)] = Measurement(issues=int(count), seconds=seconds, breached=bad)
        out.update(rows)
    return out
