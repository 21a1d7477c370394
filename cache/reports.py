"""Reports computed offline from the cache: period report, summary, issue view, portal panels.

Every function works on the database :data:`cache.db.database` is bound to.

* :func:`contract_report` loads a contract, brings its clause memberships up
  to date (:func:`cache.membership.ensure_contract`, local JQL evaluation
  when possible, Jira only with a ``client``), measures it
  (:mod:`cache.measure`) and builds the :class:`tickets.report.Report`.
  ``carry_over`` / ``borrowing`` other than ``None`` are a preview: the stored
  contract is never written.
* :func:`contract_summary`: the current period per clause (``ticketbook
  summary`` and the customer-portal panel).
* :func:`issue_view`: where one issue counts.
* :func:`portal_panels`: the panels a user would see at one location.
* :func:`current_status`: the one-line status of ``contracts list``.

"At risk" (:func:`current_status`): a limited quota clause whose current
period has used at least :data:`AT_RISK_SHARE` (80 %) of what is available
without being over; an SLA clause whose current rate is below target is
"over" (it fails), one within :data:`SLA_RISK_MARGIN` (1 point) above its
target is "at risk".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import peewee as pw

from cache import dialect, membership
from cache.measure import clause_ids, measure_contract
from cache.models import ClauseMatch, Issue, JiraField, Organization, OrganizationUser, SlaCycle, Worklog
from cache.store import load_all_contracts, load_contract_with_revision
from cache.sync import SLA_CUSTOM, last_successful_sync
from tickets.errors import InputError
from tickets.model import ClauseType, Contract, seconds_to_hours
from tickets.periods import Period, contract_periods, period_index_at
from tickets.portal import Location, OrgRef, panel_visible
from tickets.report import ClauseStatus, QuotaRow, Report, SlaRow, build_report, current_summary

__all__ = [
    "AT_RISK_SHARE",
    "SLA_RISK_MARGIN",
    "clause_statuses",
    "contract_report",
    "contract_summary",
    "current_status",
    "issue_view",
    "portal_panels",
    "report_for",
    "summary_of",
]

AT_RISK_SHARE = Fraction(8, 10)
SLA_RISK_MARGIN = Decimal(1)
UTC = dt.timezone.utc


# --- report ------------------------------------------------------------------------


def known_sla_names() -> set[str]:
    """The SLA names the cache knows, lower-cased: SLA fields (``sd-sla-field``) and SLA cycles."""
    names = {str(n).lower() for (n,) in SlaCycle.select(SlaCycle.sla_name).distinct().tuples() if n}
    names |= {str(n).lower() for (n,) in JiraField.select(JiraField.name)
              .where(JiraField.schema_custom == SLA_CUSTOM).tuples() if n}
    return names


def unknown_sla_problem(sla: tuple[str, ...], known: set[str]) -> str | None:
    """Why an SLA clause naming ``sla`` cannot be measured (names the cache does not know), else None.

    Names are compared case-insensitively (as measurement does).  Without
    this an unknown name (a typo) would have no breached cycle, so every
    issue would silently count as a success.
    """
    unknown = [n for n in sla if n.lower() not in known]
    if not unknown:
        return None
    shown = ", ".join(repr(n) for n in unknown)
    if not known:
        return (f"unknown SLA {shown}: the cache knows no SLA yet (sync first; the project needs Jira Service "
                "Management SLAs)")
    return f"unknown SLA {shown}: no cached SLA has that name (check the spelling; names ignore case)"


def clause_statuses(ids: dict[str, int], contract: Contract | None = None) -> dict[str, ClauseStatus]:
    """``ClauseStatus`` per clause name from the membership state.

    With ``contract``: an SLA clause naming an SLA the cache does not know
    (:func:`unknown_sla_problem`) is invalid, with that reason.
    """
    out = {}
    for name, cid in ids.items():
        valid, error, evaluated_by = membership.clause_state(cid)
        out[name] = ClauseStatus(valid=bool(valid), error=error, evaluated_by=evaluated_by)
    sla_clauses = [c for c in (contract.clauses if contract is not None else ())
                   if c.type is ClauseType.SLA_SUCCESS_RATE and c.sla and c.name in out and out[c.name].valid]
    if sla_clauses:
        known = known_sla_names()
        for c in sla_clauses:
            problem = unknown_sla_problem(c.sla, known)
            if problem is not None:
                out[c.name] = ClauseStatus(valid=False, error=problem, evaluated_by=out[c.name].evaluated_by)
    return out


def report_for(contract_id: int, contract: Contract, *, as_of: dt.date, carry_over: bool | None = None,
               borrowing: bool | None = None, client: Any = None) -> Report:
    """The report of an already loaded, stored contract."""
    membership.ensure_contract(contract_id, client=client, today=as_of)
    periods = contract_periods(contract)
    with dialect.read_snapshot():  # never mix a save or a sync page committed half way through
        ids = clause_ids(contract_id, contract)
        statuses = clause_statuses(ids, contract)
        measurements = measure_contract(contract_id, contract, periods)
        synced_at = last_successful_sync()
    return build_report(contract, measurements, as_of=as_of, synced_at=synced_at,
                        carry_over=carry_over, borrowing=borrowing, clause_status=statuses,
                        periods=periods)


def contract_report(name: str, *, as_of: dt.date, carry_over: bool | None = None,
                    borrowing: bool | None = None, client: Any = None) -> Report:
    """The period report of contract ``name`` (InputError if unknown).

    ``carry_over`` / ``borrowing``: ``None`` keeps the contract's own; a bool
    previews that policy without saving it.
    """
    contract_id, _revision, contract = load_contract_with_revision(name)
    return report_for(contract_id, contract, as_of=as_of, carry_over=carry_over, borrowing=borrowing,
                      client=client)


# --- summary -----------------------------------------------------------------------


def _utc_text(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_of(report: Report) -> dict[str, Any]:
    """The current period summary of a report, JSON-ready."""
    i = report.current_period
    period = None
    if i is not None:
        p = report.periods[i]
        period = {"index": p.index, "start": p.start.isoformat(), "end": p.end.isoformat(),
                  "count": len(report.periods)}
    k = report.contract
    return {
        "contract": k.name,
        "as_of": report.as_of.isoformat(),
        "synced_at": _utc_text(report.synced_at),
        "time_zone": k.time_zone,
        "period": period,
        "ended": report.as_of > k.end,
        "clauses": current_summary(report),
    }


def contract_summary(name: str, as_of: dt.date, *, client: Any = None) -> dict[str, Any]:
    """The current period summary of contract ``name``."""
    return summary_of(contract_report(name, as_of=as_of, client=client))


# --- contracts list status -----------------------------------------------------------


def _clause_status_word(row: QuotaRow | SlaRow, clause_target: Decimal | None) -> str:
    if isinstance(row, QuotaRow):
        if row.status is None:
            return "invalid"
        if row.status == "fail":
            return "over"
        if row.available is not None and row.total_used is not None and row.available > 0 \
                and Fraction(row.total_used, row.available) >= AT_RISK_SHARE:
            return "at risk"
        if row.available is not None and row.available <= 0 and (row.total_used or 0) > 0:
            return "at risk"  # nothing left and already used (but not over: amends/borrowing)
        return "ok"
    if row.status is None:
        return "invalid"
    if row.status == "fail":
        return "over"
    target = clause_target if clause_target is not None else Decimal(100)
    if row.rate is not None and row.rate * 100 < Fraction(target) + Fraction(SLA_RISK_MARGIN) \
            and target < 100:
        return "at risk"
    return "ok"


def status_of(report: Report) -> str:
    """``ok`` / ``at risk: A`` / ``over: B; at risk: A`` for the current period."""
    i = report.current_period
    if i is None:
        return "not started"
    over, risk, invalid = [], [], []
    for c in report.clauses:
        word = _clause_status_word(c.rows[i], c.clause.target)
        {"over": over, "at risk": risk, "invalid": invalid}.get(word, []).append(c.name)
    parts = []
    if over:
        parts.append("over: " + ", ".join(over))
    if risk:
        parts.append("at risk: " + ", ".join(risk))
    if invalid:
        parts.append("invalid: " + ", ".join(invalid))
    return "; ".join(parts) if parts else "ok"


def current_status(contract: Contract | str, as_of: dt.date, *, client: Any = None) -> str:
    """The STATUS column of ``contracts list`` (see the module docstring for "at risk")."""
    name = contract if isinstance(contract, str) else contract.name
    contract_id, _rev, loaded = load_contract_with_revision(name)
    if not loaded.clauses:
        return "-"  # nothing to measure
    return status_of(report_for(contract_id, loaded, as_of=as_of, client=client))


# --- issue view ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Sla:
    name: str
    outcome: str  # "breached" | "met" | "not applicable"


def _find_issue(key: str) -> Issue:
    text = (key or "").strip()
    if not text:
        raise InputError("issue: give an issue key (e.g. ABC-123)")
    issue = Issue.get_or_none(Issue.key == text) or Issue.get_or_none(Issue.key == text.upper())
    if issue is None and text.isdigit():
        issue = Issue.get_or_none(Issue.id == int(text))
    if issue is None:
        raise InputError(f"issue {text!r} is not in the cache (unknown key, or not synced yet: ticketbook sync)")
    return issue


def _sla_outcomes(issue_id: int, names: tuple[str, ...]) -> list[_Sla]:
    rows = list(SlaCycle.select(SlaCycle.sla_name, SlaCycle.breached)
                .where(SlaCycle.issue == issue_id).tuples())  # a few rows; names compared ignoring case
    out = []
    for n in names:
        mine = [bool(b) for s, b in rows if str(s).lower() == n.lower()]
        out.append(_Sla(n, "not applicable" if not mine else ("breached" if any(mine) else "met")))
    return out


def issue_view(key: str, as_of: dt.date, *, client: Any = None) -> dict[str, Any]:
    """Where issue ``key`` counts: every contract, clause and period, with hours and SLA outcome.

    Looked up by the issue's current key (the cache keeps no key history; a
    numeric id works too).  Per contract: the period containing the issue's
    ``created`` (``null`` when created outside the contract: it then counts in
    no clause) and per clause ``match`` (``true`` / ``false``, ``null`` when
    the clause's JQL is invalid or not evaluated) and ``counts``.
    """
    issue = _find_issue(key)
    created = issue.created if isinstance(issue.created, dt.datetime) else dt.datetime.fromisoformat(str(issue.created))
    created_utc = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
    seconds = int(Worklog.select(_sum_seconds()).where(Worklog.issue == issue.id).scalar() or 0)
    contracts_out = []
    names = [c.name for c in load_all_contracts()]
    for name in names:
        contract_id, _rev, contract = load_contract_with_revision(name)
        membership.ensure_contract(contract_id, client=client, today=as_of)
        ids = clause_ids(contract_id, contract)
        statuses = clause_statuses(ids, contract)
        matched = {cid for (cid,) in ClauseMatch.select(ClauseMatch.clause)
                   .where(ClauseMatch.clause.in_(list(ids.values())) & (ClauseMatch.issue == issue.id)).tuples()}
        periods: list[Period] = contract_periods(contract)
        pi = period_index_at(periods, created_utc)
        period = None if pi is None else periods[pi]
        clauses = []
        for c in contract.clauses:
            st = statuses[c.name]
            match = (ids[c.name] in matched) if st.valid else None
            entry: dict[str, Any] = {"name": c.name, "type": c.type.value, "valid": st.valid, "error": st.error,
                                     "match": match, "counts": bool(match) and period is not None}
            if c.type is ClauseType.SERVICE_HOURS:
                entry["hours"] = _hours(seconds)
            if c.type is ClauseType.SLA_SUCCESS_RATE:
                slas = _sla_outcomes(issue.id, c.sla)
                entry["sla"] = [{"name": s.name, "outcome": s.outcome} for s in slas]
                entry["outcome"] = "fail" if any(s.outcome == "breached" for s in slas) else "success"
            clauses.append(entry)
        contracts_out.append({
            "name": contract.name,
            "period": None if period is None else {"index": period.index, "start": period.start.isoformat(),
                                                   "end": period.end.isoformat(), "count": len(periods)},
            "clauses": clauses,
        })
    return {
        "issue": {"key": issue.key, "id": int(issue.id), "summary": issue.summary,
                  "project": issue.project_key, "created": _utc_text(created_utc),
                  "hours": _hours(seconds)},
        "as_of": as_of.isoformat(),
        "synced_at": _utc_text(last_successful_sync()),
        "contracts": contracts_out,
    }


def _sum_seconds() -> pw.Node:
    return pw.fn.COALESCE(pw.fn.SUM(Worklog.time_spent_seconds), 0)


def _hours(seconds: int) -> int | float:
    h = seconds_to_hours(seconds)
    return int(h) if h == h.to_integral_value() else float(h)


# --- portal panels ---------------------------------------------------------------------


def user_organizations(account_id: str) -> list[OrgRef]:
    """The JSM organizations ``account_id`` belongs to (from the synced reference data)."""
    rows = (Organization.select(Organization.id, Organization.name)
            .join(OrganizationUser, on=(OrganizationUser.organization == Organization.id))
            .where(OrganizationUser.account_id == account_id).tuples())
    return [OrgRef(str(i), n) for i, n in rows]


def local_today(contract: Contract, as_of: dt.date | None) -> dt.date:
    """``as_of`` if given, else today's date in the contract's time zone."""
    if as_of is not None:
        return as_of
    try:
        return dt.datetime.now(zoneinfo.ZoneInfo(contract.time_zone)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.date.today()


def portal_panels(account_id: str | None, *, help_center: bool, portal_key: str | None,
                  as_of: dt.date | None, client: Any = None) -> list[dict[str, Any]]:
    """The panels (current period summaries) ``account_id`` would see at one location.

    Anonymous (blank) users and users neither listed nor in a listed
    organization see nothing.  Contracts are in name order.  ``as_of`` None:
    each contract's own local today.
    """
    location = Location(help_center=help_center, portal_key=portal_key)
    if account_id is None or not account_id.strip():
        return []
    account = account_id.strip()
    orgs = user_organizations(account)
    out = []
    for contract in load_all_contracts():
        if panel_visible(contract.portal, account, orgs, location):
            out.append(contract_summary(contract.name, local_today(contract, as_of), client=client))
    return out
