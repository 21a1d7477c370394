"""The contract, clause, amend and portal types: plain, immutable values.

Units are exact: an ``issue_count`` clause counts issues (int); a
``service_hours`` clause counts *seconds* (int).  Hours typed by a user have
at most two decimals, and 0.01 h is 36 s, so every valid hour figure is a
whole number of seconds and no float ever enters the ledger.  SLA targets are
``Decimal`` percents with at most two decimals.

Validation lives in :mod:`tickets.rules` (one function per rule); these types
only hold values.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

SECONDS_PER_HOUR = 3600


class PeriodType(str, Enum):
    FIXED = "fixed"
    MONTHLY_CALENDAR = "monthly_calendar"
    MONTHLY_EXACT_DAY = "monthly_exact_day"
    ANNUAL_CALENDAR = "annual_calendar"
    ANNUAL_EXACT_DAY = "annual_exact_day"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


class ClauseType(str, Enum):
    ISSUE_COUNT = "issue_count"
    SERVICE_HOURS = "service_hours"
    SLA_SUCCESS_RATE = "sla_success_rate"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value

    @property
    def has_quota(self) -> bool:
        """Issue-count and service-hours clauses have a limit and amends."""
        return self is not ClauseType.SLA_SUCCESS_RATE


class AmendKind(str, Enum):
    LIMIT = "limit"
    CONSUMPTION = "consumption"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True)
class Amend:
    """A one-off change to one period's limit or consumption.

    ``value`` is in the clause's units (issues, or seconds for hours); it is
    non-zero and may be negative.  The amend belongs to the period containing
    ``date``.
    """

    date: _dt.date
    kind: AmendKind
    value: int
    notes: str = ""


@dataclass(frozen=True)
class Clause:
    """One quota or goal of a contract.

    ``limit`` is in the clause's units; ``None`` means unlimited (and always
    ``None`` for SLA clauses).  ``sla`` and ``target`` are for
    ``sla_success_rate`` clauses only.
    """

    name: str
    type: ClauseType
    jql: str = ""
    limit: int | None = None
    sla: tuple[str, ...] = ()
    target: Decimal | None = None
    amends: tuple[Amend, ...] = ()

    @property
    def limited(self) -> bool:
        return self.type.has_quota and self.limit is not None


@dataclass(frozen=True)
class Portal:
    """Customer-portal panel settings of a contract."""

    help_center: bool = False
    portal_projects: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contract:
    name: str
    start: _dt.date
    end: _dt.date
    time_zone: str
    period_type: PeriodType
    carry_over: bool = False
    borrowing: bool = False
    clauses: tuple[Clause, ...] = ()
    portal: Portal = field(default_factory=Portal)
    notes: str = ""  # free text (the editor's Notes field); at most 10,000 characters


# --- unit conversions (the only place hours meet seconds) -------------------

TWO_PLACES = Decimal("0.01")


def hours_to_seconds(hours: Decimal | int | str) -> int:
    """Exact hours (at most 2 decimals) to whole seconds.

    Raises ``ValueError`` when the figure is not a whole number of seconds,
    which never happens for a value that passed :func:`tickets.rules`.
    """
    d = Decimal(str(hours)) * SECONDS_PER_HOUR
    if d != d.to_integral_value():
        raise ValueError(f"{hours} h is not a whole number of seconds")
    return int(d)


def seconds_to_hours(seconds: int) -> Decimal:
    """Seconds to hours, rounded half-up to 2 decimals (for output only)."""
    return (Decimal(seconds) / SECONDS_PER_HOUR).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def units_to_output(clause_type: ClauseType, units: int | None) -> int | float | None:
    """A ledger figure as it appears in JSON: an int for issues, hours for hours."""
    if units is None:
        return None
    if clause_type is ClauseType.SERVICE_HOURS:
        h = seconds_to_hours(units)
        return int(h) if h == h.to_integral_value() else float(h)
    return int(units)
