"""Plain-text renderers: report table and CSV, summary, portal panel, issue view.

Pure functions from a :class:`tickets.report.Report` (or the JSON-ready dicts
of ``cache.reports``) to text; no I/O.  Tables fit 80 columns (long names and
JQL wrap; figures never do).  Hours show with 2 decimals (half-up, exact
seconds underneath); future periods show ``—`` placeholders; the current
period is marked ``>``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import textwrap
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from tickets.model import ClauseType, seconds_to_hours, units_to_output
from tickets.report import ClauseReport, QuotaRow, Report, SlaRow, rate_percent

__all__ = [
    "CSV_COLUMNS",
    "render_issue_table",
    "render_panel_html",
    "render_panel_text",
    "render_report_csv",
    "render_report_table",
    "render_summary_table",
]

WIDTH = 80
DASH = "—"


def _wrap(text: str, indent: str = "", width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False) or [indent.rstrip()]


def _fmt(t: ClauseType, units: int | None, *, signed: bool = False) -> str:
    """Clause units as shown in a table cell."""
    if units is None:
        return ""
    if t is ClauseType.SERVICE_HOURS:
        h = seconds_to_hours(units)
        text = f"{h:.2f}"
        return f"+{text}" if signed and units > 0 else text
    return f"+{units}" if signed and units > 0 else str(units)


def _unit(t: ClauseType, value: int | None = None) -> str:
    """`` h`` / `` issues`` (`` issue`` for a ``value`` of ±1) / nothing, after a figure of type ``t``."""
    if t is ClauseType.ISSUE_COUNT:
        return " issue" if value is not None and abs(value) == 1 else " issues"
    return " h" if t is ClauseType.SERVICE_HOURS else ""


def count_text(n: Any, word: str = "issue") -> str:
    """``1 issue``, ``0 issues``, ``3 issues``: the noun agrees with the count."""
    return f"{n} {word}" if n in (1, -1) else f"{n} {word}s"


def _percent(d: Decimal | None) -> str:
    if d is None:
        return ""
    return f"{d.normalize():f}%" if d == d.to_integral_value() else f"{d:.2f}%"


def _status(s: str | None) -> str:
    return {"success": "ok", "fail": "FAIL"}.get(s or "", s or "")


def _utc_text(t: Any) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- report table -------------------------------------------------------------------

_QUOTA_HEAD = ("#", "PERIOD", "AVAIL", "USED", "LEFT", "BAL", "OVER", "STATUS")
_SLA_HEAD = ("#", "PERIOD", "ISSUES", "BREACHED", "RATE", "STATUS")
# column widths (the period column holds "2025-01-01..2025-01-31")
_QW = (3, 22, 8, 8, 8, 8, 8, 6)
_SW = (3, 22, 8, 9, 9, 6)


def _row(marker: str, cells: Sequence[str], widths: Sequence[int]) -> str:
    parts = [cells[0].rjust(widths[0]), cells[1].ljust(widths[1])]
    parts += [c.rjust(w) for c, w in zip(cells[2:-1], widths[2:-1])]
    parts.append(cells[-1].ljust(widths[-1]))
    return (marker + " " + " ".join(parts)).rstrip()


def _period_text(r: QuotaRow | SlaRow) -> str:
    return f"{r.start.isoformat()}..{r.end.isoformat()}"


def _quota_block(c: ClauseReport, current: int | None) -> list[str]:
    t = c.clause.type
    lines = [_row(" ", _QUOTA_HEAD, _QW)]
    for r in c.rows:
        assert isinstance(r, QuotaRow)
        mark = ">" if r.index == current else " "
        if r.future:
            cells = (str(r.index), _period_text(r), DASH, DASH, DASH, DASH, DASH, DASH)
        elif r.limit is None:  # unlimited
            cells = (str(r.index), _period_text(r), "", _fmt(t, r.total_used), "", "", "", _status(r.status))
        else:
            bal = (r.carried_out or 0) - (r.debt_out or 0)
            cells = (str(r.index), _period_text(r), _fmt(t, r.available), _fmt(t, r.total_used),
                     _fmt(t, r.remaining), _fmt(t, bal, signed=True), _fmt(t, r.over), _status(r.status))
        lines.append(_row(mark, cells, _QW))
        extras = []
        if not r.future and r.limit_amends:
            extras.append(f"limit amended {_fmt(t, r.limit_amends, signed=True)}")
        if not r.future and r.consumption_amends:
            extras.append(f"consumption amended {_fmt(t, r.consumption_amends, signed=True)}")
        for e in extras:
            lines.extend(_wrap(e, " " * 6))
        for note in r.notes:
            lines.extend(_wrap(f"note: {note}", " " * 6))
    return lines


def _sla_block(c: ClauseReport, current: int | None) -> list[str]:
    lines = [_row(" ", _SLA_HEAD, _SW)]
    for r in c.rows:
        assert isinstance(r, SlaRow)
        mark = ">" if r.index == current else " "
        if r.future:
            cells = (str(r.index), _period_text(r), DASH, DASH, DASH, DASH)
        else:
            rate = _percent(rate_percent(r.rate)) if r.rate is not None else DASH
            cells = (str(r.index), _period_text(r), str(r.issues), str(r.breached), rate, _status(r.status))
        lines.append(_row(mark, cells, _SW))
    return lines


def _clause_header(c: ClauseReport) -> list[str]:
    cl = c.clause
    t = cl.type
    if t.has_quota:
        unit = _unit(t, cl.limit)
        kind = f"{t.value}, " + (f"limit {_fmt(t, cl.limit)}{unit}" if cl.limit is not None else "unlimited")
    else:
        target = cl.target if cl.target is not None else Decimal(100)
        kind = f"{t.value}, target {_percent(target)}, SLA: {', '.join(cl.sla)}"
    lines = _wrap(f"{cl.name}  ({kind})")
    lines += _wrap(f"JQL: {cl.jql}", "  ")
    if c.evaluated_by:
        lines += _wrap(f"evaluated by {c.evaluated_by}", "  ")
    return lines


def render_report_table(report: Report) -> str:
    """The period report as text, one block per clause, readable at 80 columns."""
    k = report.contract
    out = _wrap(k.name)
    out.append(f"{k.start.isoformat()}..{k.end.isoformat()}  {k.time_zone}  {k.period_type.value}")
    flags = []
    for label, now, saved in (("carry-over", report.carry_over, k.carry_over),
                              ("borrowing", report.borrowing, k.borrowing)):
        flags.append(f"{label} {'on' if now else 'off'}" + (" (preview)" if now != saved else ""))
    out.append(", ".join(flags))
    synced = _utc_text(report.synced_at) or "never (run: ticketbook sync)"
    cur = report.current_period
    where = "not started" if cur is None else f"current period #{cur}, {cur + 1} of {len(report.periods)}"
    out.extend(_wrap(f"as of {report.as_of.isoformat()} ({where}); synced {synced}"))
    if not report.clauses:
        out.append("")
        out.append("no clauses")
    for c in report.clauses:
        out.append("")
        out.extend(_clause_header(c))
        if not c.valid:
            out.extend(_wrap(f"invalid: {c.error or 'invalid clause'}", "  "))
        elif c.clause.type.has_quota:
            out.extend(_quota_block(c, cur))
        else:
            out.extend(_sla_block(c, cur))
        for a in c.outside_amends:
            text = f"outside the contract: {a.date.isoformat()} {a.kind.value} " \
                   f"{_fmt(c.clause.type, a.value, signed=True)}{_unit(c.clause.type, a.value)}"
            out.extend(_wrap(text + (f" ({a.notes})" if a.notes else "") + ", counted nowhere", "  "))
    if any(c.clause.type.has_quota and c.valid for c in report.clauses):
        out.append("")
        out.extend(_wrap("AVAIL = limit + amends + balance brought in; BAL = carried out (+) or "
                         "borrowed (-); OVER = over-consumption; — = future period"))
    return "\n".join(out) + "\n"


# --- report CSV ----------------------------------------------------------------------

CSV_COLUMNS = (
    "clause", "type", "valid", "error", "index", "start", "end", "current", "future", "issues",
    "limit", "limit_amends", "carried_in", "debt_in", "available", "consumed", "consumption_amends",
    "total_used", "remaining", "carried_out", "debt_out", "over", "breached", "rate", "target",
    "status", "notes",
)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render_report_csv(report: Report) -> str:
    """One row per clause and period, with a header (hours in hours, rates in percent)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in report.clauses:
        t = c.clause.type
        for r in c.rows:
            d: dict[str, Any] = {"clause": c.name, "type": t.value, "valid": c.valid, "error": c.error,
                                 "index": r.index, "start": r.start.isoformat(), "end": r.end.isoformat(),
                                 "current": r.index == report.current_period, "future": r.future,
                                 "issues": r.issues, "status": r.status}
            if isinstance(r, QuotaRow):
                for key in ("limit", "limit_amends", "carried_in", "debt_in", "available", "consumed",
                            "consumption_amends", "total_used", "remaining", "carried_out", "debt_out",
                            "over"):
                    d[key] = units_to_output(t, getattr(r, key))
                d["notes"] = " | ".join(r.notes)
            else:
                d["breached"] = r.breached
                p = rate_percent(r.rate)
                d["rate"] = None if p is None else (int(p) if p == p.to_integral_value() else float(p))
                tg = c.clause.target if c.clause.target is not None else Decimal(100)
                d["target"] = int(tg) if tg == tg.to_integral_value() else float(tg)
            w.writerow([_cell(d.get(col)) for col in CSV_COLUMNS])
    return buf.getvalue()


# --- summary -------------------------------------------------------------------------


def _num_text(v: Any, unit: str) -> str:
    if v is None:
        return DASH
    if unit == "hours":
        return f"{Decimal(str(v)):.2f} h"
    return str(v)


def _summary_figures(c: dict[str, Any]) -> str:
    if not c.get("valid", True):
        return f"invalid: {c.get('error') or 'invalid clause'}"
    if c.get("period") is None:
        return DASH
    if "unit" in c:
        unit = c["unit"]
        used = _num_text(c["used"], unit)
        if not c.get("limited"):
            return f"used {used} (unlimited)"
        return f"used {used} of {_num_text(c['available'], unit)}, {_num_text(c['remaining'], unit)} left"
    rate = DASH if c.get("rate") is None else f"{c['rate']}%"
    return f"{rate} vs target {c.get('target')}% ({count_text(c.get('issues'))}, {c.get('breached')} breached)"


def _summary_lines(s: dict[str, Any]) -> list[str]:
    lines = _wrap(s["contract"])
    p = s.get("period")
    if p is None:
        lines.append(f"as of {s['as_of']}: the contract has not started")
    else:
        ended = " (contract ended)" if s.get("ended") else ""
        lines.append(f"period {p['index'] + 1}/{p['count']}: {p['start']}..{p['end']}{ended}; as of {s['as_of']}")
    lines.append(f"synced {s.get('synced_at') or 'never'}")
    return lines


def render_summary_table(summary: dict[str, Any]) -> str:
    """The current period summary (``cache.reports.summary_of``) as a small table."""
    out = _summary_lines(summary)
    clauses = summary.get("clauses", [])
    if not clauses:
        out.append("no clauses")
        return "\n".join(out) + "\n"
    name_w = min(28, max(len("CLAUSE"), *(len(c["name"]) for c in clauses)))
    status_w = 6
    fig_w = WIDTH - name_w - status_w - 4
    out.append("")
    out.append(f"{'CLAUSE'.ljust(name_w)}  {'STATUS'.ljust(status_w)}  FIGURES")
    for c in clauses:
        name = c["name"] if len(c["name"]) <= name_w else c["name"][: name_w - 1] + "…"
        fig = textwrap.wrap(_summary_figures(c), fig_w) or [""]
        out.append(f"{name.ljust(name_w)}  {_status(c.get('status')).ljust(status_w)}  {fig[0]}".rstrip())
        for more in fig[1:]:
            out.append(" " * (name_w + status_w + 4) + more)
    return "\n".join(out) + "\n"


# --- portal panel ----------------------------------------------------------------------


def render_panel_text(panels: Iterable[dict[str, Any]]) -> str:
    """Every panel as text, separated by a blank line (nothing at all when there are none)."""
    blocks = [render_summary_table(p).rstrip("\n") for p in panels]
    return ("\n\n".join(blocks) + "\n") if blocks else ""


def render_panel_html(panels: Iterable[dict[str, Any]]) -> str:
    """Every panel as an HTML fragment (escaped), as the customer portal would show it."""
    e = html.escape
    parts = ['<div class="ticketbook-panels">']
    for s in panels:
        p = s.get("period")
        parts.append('  <section class="ticketbook-panel">')
        parts.append(f"    <h3>{e(s['contract'])}</h3>")
        if p is None:
            parts.append("    <p>The contract has not started.</p>")
        else:
            parts.append(f"    <p>Period {p['index'] + 1} of {p['count']}: {e(p['start'])} to {e(p['end'])}</p>")
        parts.append("    <table>")
        parts.append("      <tr><th>Clause</th><th>Status</th><th>Figures</th></tr>")
        for c in s.get("clauses", []):
            st = _status(c.get("status")) or DASH
            parts.append(f'      <tr class="{e(c.get("status") or "none")}"><td>{e(c["name"])}</td>'
                         f"<td>{e(st)}</td><td>{e(_summary_figures(c))}</td></tr>")
        parts.append("    </table>")
        parts.append("  </section>")
    parts.append("</div>")
    return "\n".join(parts) + "\n"


# --- issue view --------------------------------------------------------------------------


def _yes_no(v: Any) -> str:
    return "invalid" if v is None else ("yes" if v else "no")


def render_issue_table(view: dict[str, Any]) -> str:
    """The issue view (``cache.reports.issue_view``) as text."""
    i = view["issue"]
    out = _wrap(f"{i['key']}  {i.get('summary') or ''}".rstrip())
    out.append(f"created {i['created']}; project {i['project']}; worklogs {i['hours']:.2f} h")
    out.append(f"as of {view['as_of']}; synced {view.get('synced_at') or 'never'}")
    if not view["contracts"]:
        out += ["", "no contracts"]
    for k in view["contracts"]:
        out.append("")
        p = k.get("period")
        where = "created outside the contract: counts nowhere" if p is None else \
            f"period #{p['index']}, {p['index'] + 1} of {p['count']} ({p['start']}..{p['end']})"
        out.extend(_wrap(f"{k['name']}: {where}"))
        counted = [c for c in k["clauses"] if c["counts"]]
        others = [c for c in k["clauses"] if not c["counts"]]
        for c in counted:
            detail = ""
            if "hours" in c:
                detail = f"{c['hours']:.2f} h"
            elif "sla" in c:
                detail = ("SLA failed" if c["outcome"] == "fail" else "SLA met") + " (" + "; ".join(
                    f"{s['name']}: {s['outcome']}" for s in c["sla"]) + ")"
            else:
                detail = "1 issue"
            out.extend(_wrap(f"counts in {c['name']}: {detail}", "  "))
        for c in others:
            if c["match"] is None:
                why = f"invalid JQL: {c.get('error') or 'not evaluated'}"
            elif c["match"]:
                why = "matches, but created outside the contract"
            else:
                why = "JQL does not match"
            out.extend(_wrap(f"not in {c['name']}: {why}", "  "))
    return "\n".join(out) + "\n"
