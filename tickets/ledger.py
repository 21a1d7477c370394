"""The quota ledger (carry-over and borrowing) and the SLA success rate.

Pure integer arithmetic in the clause's units (issues, or seconds for
``service_hours``); see the "Quota ledger" section of ``domain.md``, which
this module follows line by line.  Fast enough to be rerun on every policy
toggle in the report screen: one pass per clause, with the "sum of
``limit_total`` over later periods" taken from a suffix sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

SUCCESS = "success"
FAIL = "fail"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One period of one limited quota clause (all figures in clause units)."""

    limit: int
    limit_amends: int
    limit_total: int
    carried_in: int
    debt_in: int
    available: int
    consumed: int
    consumption_amends: int
    total_used: int
    remaining: int
    carried_out: int
    debt_out: int
    over: int
    status: str  # "success" | "fail"


def run_ledger(
    limits: Sequence[int],
    limit_amends: Sequence[int],
    consumed: Sequence[int],
    consumption_amends: Sequence[int],
    *,
    carry_over: bool,
    borrowing: bool,
) -> list[LedgerRow]:
    """Walk the periods in order with a running balance (domain.md pseudo-code).

    All four sequences have one entry per period.  ``limits`` is normally the
    clause limit repeated; it is a sequence so a caller may vary it.

    One guard beyond the pseudo-code: when later periods' ``limit_total`` sum
    is negative (possible only with negative limit amends larger than the
    limit), nothing can be borrowed, so ``debt_out`` is clamped at 0 instead of
    turning a debt into a credit.
    """
    n = len(limits)
    if not (len(limit_amends) == len(consumed) == len(consumption_amends) == n):
        raise ValueError("run_ledger: every sequence needs one entry per period")

    totals = [limits[i] + limit_amends[i] for i in range(n)]
    # after[i] = sum of limit_total over periods i+1 .. n-1
    after = [0] * n
    acc = 0
    for i in range(n - 1, -1, -1):
        after[i] = acc
        acc += totals[i]

    rows: list[LedgerRow] = []
    append = rows.append
    b = 0
    for i in range(n):
        limit_total = totals[i]
        carried_in = b if b > 0 else 0
        debt_in = -b if b < 0 else 0
        available = limit_total + b
        used_i = consumed[i]
        amend_i = consumption_amends[i]
        total_used = used_i + amend_i
        remaining = available - total_used
        if remaining >= 0:
            over = 0
            debt_out = 0
            carried_out = remaining if carry_over else 0
        elif borrowing:
            future = after[i]
            debt_out = min(-remaining, future)
            if debt_out < 0:
                debt_out = 0
            over = -remaining - debt_out
            carried_out = 0
        else:
            over = -remaining
            debt_out = 0
            carried_out = 0
        b = carried_out - debt_out
        append(
            LedgerRow(
                limits[i],
                limit_amends[i],
                limit_total,
                carried_in,
                debt_in,
                available,
                used_i,
                amend_i,
                total_used,
                remaining,
                carried_out,
                debt_out,
                over,
                FAIL if over > 0 else SUCCESS,
            )
        )
    return rows


def sla_rate(issues: int, breached: int, target: Decimal) -> tuple[Fraction | None, str]:
    """Exact success rate (succeeded / matched, a fraction in 0..1) and status.

    The period succeeds iff ``rate * 100 >= target`` (exact comparison).  With
    no matched issues the rate is ``None`` and the period succeeds.
    """
    if issues < 0 or breached < 0 or breached > issues:
        raise ValueError(f"sla_rate: bad counts issues={issues} breached={breached}")
    if issues == 0:
        return None, SUCCESS
    rate = Fraction(issues - breached, issues)
    return rate, SUCCESS if rate * 100 >= Fraction(target) else FAIL
