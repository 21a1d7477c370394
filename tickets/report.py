"""Report assembly: a contract plus per-clause, per-period measurements.

The cache measures (issues, worklog seconds, breached issues) per clause and
period; this module turns those into the period report of ``domain.md``
(quota ledger, SLA rate) and its JSON form (``interfaces.md``, "Report JSON").

Typed values stay exact in the :class:`Report` (ints in clause units: issues,
or seconds for ``service_hours``; SLA rates as :class:`~fractions.Fraction`).
Conversion to hours / percent, rounded half-up to 2 decimals, happens only in
:func:`report_to_json_dict`, :func:`current_summary` and :func:`output_units`.

A policy flip on the report screen is :meth:`Report.with_policies`: it reruns
only the ledger over the stored inputs, never the measurements.

JSON extensions beyond interfaces.md (all appended after the documented keys):
per quota period ``limit_total`` and ``future``; per SLA period ``future``;
per clause ``outside_contract_amends`` (quota clauses) and ``evaluated_by``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, Union

from tickets.ledger import FAIL, SUCCESS, run_ledger, sla_rate
from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, units_to_output
from tickets.periods import Period, contract_periods, current_period_index, period_index_for_date

__all__ = [
    "ClauseReport",
    "ClauseStatus",
    "Measurement",
    "QuotaRow",
    "Report",
    "SlaRow",
    "build_report",
    "current_summary",
    "output_units",
    "rate_percent",
    "report_to_json",
    "report_to_json_dict",
]


# --- inputs --------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One clause, one period, from the cache."""

    issues: int = 0  # matched issues created in the period
    seconds: int = 0  # worklog seconds on those issues (service_hours)
    breached: int = 0  # matched issues that fail the selected SLAs (sla_success_rate)


@dataclass(frozen=True)
class ClauseStatus:
    """Why a clause has no figures, or who evaluated it."""

    valid: bool = True
    error: str | None = None
    evaluated_by: str | None = None  # e.g. "jira at 2025-06-10T08:00:00Z"


MeasureFn = Callable[[Clause, Sequence[Period]], Sequence[Measurement]]
Measurements = Union[Mapping[str, Sequence[Measurement]], MeasureFn]

_VALID = ClauseStatus()


# --- outputs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaRow:
    """One period of an ``issue_count`` / ``service_hours`` clause.

    Figures are in clause units (issues or seconds).  For an unlimited clause
    the ledger fields (``limit`` .. ``over`` except the consumption ones) are
    ``None`` and ``status`` is ``"success"``; for an invalid clause every
    figure and ``status`` are ``None``.
    """

    index: int
    start: _dt.date
    end: _dt.date
    future: bool
    issues: int | None
    limit: int | None
    limit_amends: int | None
    limit_total: int | None
    carried_in: int | None
    debt_in: int | None
    available: int | None
    consumed: int | None
    consumption_amends: int | None
    total_used: int | None
    remaining: int | None
    carried_out: int | None
    debt_out: int | None
    over: int | None
    status: str | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlaRow:
    """One period of an ``sla_success_rate`` clause; ``rate`` is exact, 0..1."""

    index: int
    start: _dt.date
    end: _dt.date
    future: bool
    issues: int | None
    breached: int | None
    rate: Fraction | None
    status: str | None


@dataclass(frozen=True)
class _QuotaInputs:
    """What a quota clause's ledger needs, kept so a policy flip skips measuring."""

    issues: tuple[int, ...]
    consumed: tuple[int, ...]
    limit_amends: tuple[int, ...]
    consumption_amends: tuple[int, ...]
    notes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ClauseReport:
    clause: Clause
    valid: bool
    error: str | None
    evaluated_by: str | None
    rows: tuple[QuotaRow | SlaRow, ...]
    outside_amends: tuple[Amend, ...] = ()
    # ledger inputs, kept so a policy flip reruns only the ledger
    _inputs: _QuotaInputs | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.clause.name

    @property
    def type(self) -> ClauseType:
        return self.clause.type

    @property
    def limited(self) -> bool:
        return self.clause.limited

    def output(self, units: int | None) -> int | float | None:
        """A figure of this clause as shown (issues, or hours rounded half-up)."""
        return output_units(self.clause.type, units)


@dataclass(frozen=True)
class Report:
    contract: Contract
    as_of: _dt.date
    synced_at: _dt.datetime | None
    carry_over: bool  # policies the report was computed with
    borrowing: bool
    periods: tuple[Period, ...]
    current_period: int | None
    clauses: tuple[ClauseReport, ...]

    def clause(self, name: str) -> ClauseReport:
        for c in self.clauses:
            if c.name.casefold() == name.casefold():
                return c
        raise KeyError(name)

    def with_policies(self, carry_over: bool | None = None, borrowing: bool | None = None) -> Report:
        """The same report under other policies (None keeps this report's).

        Reruns only the ledger; the contract is not altered.
        """
        co = self.carry_over if carry_over is None else bool(carry_over)
        bo = self.borrowing if borrowing is None else bool(borrowing)
        if co == self.carry_over and bo == self.borrowing:
            return self
        clauses = tuple(
            replace(c, rows=_ledger_rows(c, self.periods, self.as_of, co, bo)) if c._inputs else c
            for c in self.clauses
        )
        return replace(self, carry_over=co, borrowing=bo, clauses=clauses)


# --- building ------------------------------------------------------------------


def build_report(
    contract: Contract,
    measurements: Measurements,
    *,
    as_of: _dt.date,
    synced_at: _dt.datetime | None,
    carry_over: bool | None = None,
    borrowing: bool | None = None,
    clause_status: Mapping[str, ClauseStatus] | None = None,
    periods: Sequence[Period] | None = None,
) -> Report:
    """Assemble the period report.

    ``measurements`` maps a clause name to one :class:`Measurement` per period,
    or is a callable ``(clause, periods) -> measurements``.  It is not consulted
    for clauses marked invalid in ``clause_status``.  ``carry_over`` /
    ``borrowing`` of ``None`` use the contract's own; anything else is a
    preview that never alters the contract.  ``periods`` may be passed when
    the caller already split the contract.
    """
    co = contract.carry_over if carry_over is None else bool(carry_over)
    bo = contract.borrowing if borrowing is None else bool(borrowing)
    ps = tuple(contract_periods(contract) if periods is None else periods)
    statuses = clause_status or {}
    clauses = tuple(
        _clause_report(c, ps, measurements, statuses.get(c.name, _VALID), as_of, co, bo)
        for c in contract.clauses
    )
    return Report(
        contract=contract,
        as_of=as_of,
        synced_at=synced_at,
        carry_over=co,
        borrowing=bo,
        periods=ps,
        current_period=current_period_index(list(ps), as_of),
        clauses=clauses,
    )


def _measure(
    clause: Clause, periods: tuple[Period, ...], measurements: Measurements
) -> tuple[Measurement, ...]:
    if callable(measurements) and not isinstance(measurements, Mapping):
        got = measurements(clause, periods)
    else:
        try:
            got = measurements[clause.name]
        except KeyError:
            raise ValueError(f"no measurements for clause {clause.name!r}") from None
    got = tuple(got)
    if len(got) != len(periods):
        raise ValueError(
            f"clause {clause.name!r}: {len(got)} measurements for {len(periods)} periods"
        )
    return got


def _is_future(p: Period, as_of: _dt.date) -> bool:
    return p.start > as_of


def _clause_report(
    clause: Clause,
    periods: tuple[Period, ...],
    measurements: Measurements,
    status: ClauseStatus,
    as_of: _dt.date,
    carry_over: bool,
    borrowing: bool,
) -> ClauseReport:
    n = len(periods)
    plist = list(periods)
    has_quota = clause.type.has_quota

    # amends -> periods (by date); outside the contract: listed, counted nowhere
    limit_am = [0] * n
    cons_am = [0] * n
    notes: list[list[str]] = [[] for _ in range(n)]
    outside: list[Amend] = []
    if has_quota:
        for a in sorted(clause.amends, key=lambda a: a.date):
            i = period_index_for_date(plist, a.date)
            if i is None:
                outside.append(a)
                continue
            if a.kind is AmendKind.LIMIT:
                limit_am[i] += a.value
            else:
                cons_am[i] += a.value
            if a.notes:
                notes[i].append(a.notes)

    if not status.valid:
        rows: tuple[QuotaRow | SlaRow, ...]
        if has_quota:
            rows = tuple(
                QuotaRow(p.index, p.start, p.end, _is_future(p, as_of), *([None] * 15),
                         notes=tuple(notes[i]))
                for i, p in enumerate(periods)
            )
        else:
            rows = tuple(
                SlaRow(p.index, p.start, p.end, _is_future(p, as_of), None, None, None, None)
                for p in periods
            )
        return ClauseReport(clause, False, status.error or "invalid clause", status.evaluated_by,
                            rows, tuple(outside))

    ms = _measure(clause, periods, measurements)

    if not has_quota:
        target = clause.target if clause.target is not None else Decimal(100)
        sla_rows = []
        for p, m in zip(periods, ms):
            rate, st = sla_rate(m.issues, m.breached, target)
            sla_rows.append(SlaRow(p.index, p.start, p.end, _is_future(p, as_of),
                                   m.issues, m.breached, rate, st))
        return ClauseReport(clause, True, None, status.evaluated_by, tuple(sla_rows))

    consumed = tuple(m.seconds if clause.type is ClauseType.SERVICE_HOURS else m.issues for m in ms)
    issues = tuple(m.issues for m in ms)
    inputs = _QuotaInputs(issues, consumed, tuple(limit_am), tuple(cons_am),
                          tuple(tuple(x) for x in notes))
    report = ClauseReport(clause, True, None, status.evaluated_by, (), tuple(outside),
                          _inputs=inputs)
    return replace(report, rows=_ledger_rows(report, periods, as_of, carry_over, borrowing))


def _ledger_rows(
    c: ClauseReport, periods: tuple[Period, ...], as_of: _dt.date, carry_over: bool, borrowing: bool
) -> tuple[QuotaRow, ...]:
    assert c._inputs is not None
    inp = c._inputs
    issues, consumed, cons_am, notes = inp.issues, inp.consumed, inp.consumption_amends, inp.notes
    n = len(periods)
    clause = c.clause
    if clause.limit is None:  # unlimited: no ledger, never fails on quota
        return tuple(
            QuotaRow(p.index, p.start, p.end, _is_future(p, as_of), issues[i],
                     None, None, None, None, None, None,
                     consumed[i], cons_am[i], consumed[i] + cons_am[i],
                     None, None, None, None, SUCCESS, notes[i])
            for i, p in enumerate(periods)
        )
    ledger = run_ledger([clause.limit] * n, inp.limit_amends, consumed, cons_am,
                        carry_over=carry_over, borrowing=borrowing)
    return tuple(
        QuotaRow(p.index, p.start, p.end, _is_future(p, as_of), issues[i],
                 r.limit, r.limit_amends, r.limit_total, r.carried_in, r.debt_in, r.available,
                 r.consumed, r.consumption_amends, r.total_used, r.remaining, r.carried_out,
                 r.debt_out, r.over, r.status, notes[i])
        for i, (p, r) in enumerate(zip(periods, ledger))
    )


# --- output conversions --------------------------------------------------------


def output_units(clause_type: ClauseType, units: int | None) -> int | float | None:
    """Clause units as shown: issues as int, seconds as hours (half-up, 2 places)."""
    return units_to_output(clause_type, units)


def rate_percent(rate: Fraction | None) -> Decimal | None:
    """An exact rate (0..1) as a percent rounded half-up to 2 decimals."""
    if rate is None:
        return None
    num = rate.numerator * 10000  # rate * 100 percent * 100 hundredths
    den = rate.denominator
    q = (2 * abs(num) + den) // (2 * den)  # half-up on the magnitude
    return Decimal(-q if num < 0 else q).scaleb(-2)


def _num(d: Decimal | None) -> int | float | None:
    """A Decimal with at most 2 places as a JSON number (int when whole)."""
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else float(d)


def _utc_text(t: _dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- JSON ----------------------------------------------------------------------

_QUOTA_LEDGER_KEYS = (
    "limit", "limit_amends", "carried_in", "debt_in", "available", "consumed",
    "consumption_amends", "total_used", "remaining", "carried_out", "debt_out", "over",
)


def _quota_row_json(t: ClauseType, r: QuotaRow) -> dict[str, Any]:
    d: dict[str, Any] = {"index": r.index}
    for k in _QUOTA_LEDGER_KEYS:
        d[k] = units_to_output(t, getattr(r, k))
    d["status"] = r.status
    d["issues"] = r.issues
    d["notes"] = list(r.notes)
    d["limit_total"] = units_to_output(t, r.limit_total)
    d["future"] = r.future
    return d


def _sla_row_json(r: SlaRow) -> dict[str, Any]:
    return {
        "index": r.index,
        "issues": r.issues,
        "breached": r.breached,
        "rate": _num(rate_percent(r.rate)),
        "status": r.status,
        "future": r.future,
    }


def _clause_json(c: ClauseReport) -> dict[str, Any]:
    cl = c.clause
    t = cl.type
    d: dict[str, Any] = {"name": cl.name, "type": t.value, "jql": cl.jql}
    if t.has_quota:
        d["limited"] = cl.limited
        d["limit"] = units_to_output(t, cl.limit)
    else:
        d["sla"] = list(cl.sla)
        d["target"] = _num(cl.target if cl.target is not None else Decimal(100))
    d["valid"] = c.valid
    d["error"] = c.error
    if t.has_quota:
        d["periods"] = [_quota_row_json(t, r) for r in c.rows]  # type: ignore[arg-type]
        d["outside_contract_amends"] = [
            {"date": a.date.isoformat(), "kind": a.kind.value,
             "value": units_to_output(t, a.value), "notes": a.notes}
            for a in c.outside_amends
        ]
    else:
        d["periods"] = [_sla_row_json(r) for r in c.rows]  # type: ignore[arg-type]
    d["evaluated_by"] = c.evaluated_by
    return d


def report_to_json_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (interfaces.md "Report JSON" key order)."""
    k = report.contract
    return {
        "contract": {
            "name": k.name,
            "start": k.start.isoformat(),
            "end": k.end.isoformat(),
            "time_zone": k.time_zone,
            "period_type": k.period_type.value,
            "carry_over": report.carry_over,
            "borrowing": report.borrowing,
        },
        "as_of": report.as_of.isoformat(),
        "synced_at": _utc_text(report.synced_at),
        "periods": [
            {"index": p.index, "start": p.start.isoformat(), "end": p.end.isoformat()}
            for p in report.periods
        ],
        "current_period": report.current_period,
        "clauses": [_clause_json(c) for c in report.clauses],
    }


def report_to_json(report: Report, *, indent: int | None = 2) -> str:
    return json.dumps(report_to_json_dict(report), indent=indent, ensure_ascii=False)


# --- current period summary (customer portal panel, `ticketbook summary`) -------


def current_summary(report: Report) -> list[dict[str, Any]]:
    """Per clause, the current period's figures, as JSON-ready values.

    Quota clauses: ``available``, ``used`` (total used), ``remaining`` and
    ``status`` (hours as hours; ``available`` / ``remaining`` null when
    unlimited).  SLA clauses: ``issues``, ``breached``, ``rate`` (percent, null
    without issues), ``target`` and ``status``.  Before the contract starts
    (``period`` null) and for invalid clauses the figures and status are null.
    """
    i = report.current_period
    out: list[dict[str, Any]] = []
    for c in report.clauses:
        t = c.clause.type
        row = c.rows[i] if i is not None and i < len(c.rows) else None
        d: dict[str, Any] = {"name": c.name, "type": t.value, "valid": c.valid, "error": c.error,
                             "period": i}
        if row is not None:
            d["start"] = row.start.isoformat()
            d["end"] = row.end.isoformat()
        else:
            d["start"] = d["end"] = None
        if t.has_quota:
            assert row is None or isinstance(row, QuotaRow)
            d["unit"] = "hours" if t is ClauseType.SERVICE_HOURS else "issues"
            d["limited"] = c.limited
            d["available"] = units_to_output(t, row.available) if row else None
            d["used"] = units_to_output(t, row.total_used) if row else None
            d["remaining"] = units_to_output(t, row.remaining) if row else None
            d["status"] = row.status if row else None
        else:
            assert row is None or isinstance(row, SlaRow)
            d["issues"] = row.issues if row else None
            d["breached"] = row.breached if row else None
            d["rate"] = _num(rate_percent(row.rate)) if row else None
            d["target"] = _num(c.clause.target if c.clause.target is not None else Decimal(100))
            d["status"] = row.status if row else None
        out.append(d)
    return out


# re-exported for renderers that colour statuses
STATUS_SUCCESS = SUCCESS
STATUS_FAIL = FAIL
