"""The quota ledger and SLA rate (domain.md "Quota ledger", "Clauses")."""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.ledger import LedgerRow, run_ledger, sla_rate


def ledger(limit, used, *, carry_over, borrowing, limit_amends=None, consumption_amends=None):
    n = len(used)
    return run_ledger(
        [limit] * n,
        limit_amends or [0] * n,
        used,
        consumption_amends or [0] * n,
        carry_over=carry_over,
        borrowing=borrowing,
    )


WORKED = [80, 110, 130, 50]


# --- the worked table of domain.md, every figure it gives ---------------------


def test_worked_table_none() -> None:
    rows = ledger(100, WORKED, carry_over=False, borrowing=False)
    assert [r.status for r in rows] == ["success", "fail", "fail", "success"]
    assert rows[0].remaining == 20
    assert rows[1].over == 10
    assert rows[2].over == 30
    assert rows[3].remaining == 50
    assert [r.available for r in rows] == [100, 100, 100, 100]
    assert [r.carried_out for r in rows] == [0, 0, 0, 0]
    assert [r.debt_out for r in rows] == [0, 0, 0, 0]
    assert [r.over for r in rows] == [0, 10, 30, 0]


def test_worked_table_carry_over() -> None:
    rows = ledger(100, WORKED, carry_over=True, borrowing=False)
    assert [r.status for r in rows] == ["success", "success", "fail", "success"]
    assert rows[0].carried_out == 20
    assert rows[1].available == 120 and rows[1].carried_in == 20 and rows[1].carried_out == 10
    assert rows[2].available == 110 and rows[2].over == 20 and rows[2].carried_out == 0
    assert rows[3].available == 100 and rows[3].remaining == 50
    assert [r.over for r in rows] == [0, 0, 20, 0]
    assert [r.debt_out for r in rows] == [0, 0, 0, 0]


def test_worked_table_borrowing() -> None:
    rows = ledger(100, WORKED, carry_over=False, borrowing=True)
    assert [r.status for r in rows] == ["success"] * 4
    assert rows[0].carried_out == 0 and rows[0].remaining == 20
    assert rows[1].debt_out == 10 and rows[1].over == 0
    assert rows[2].available == 90 and rows[2].debt_in == 10 and rows[2].debt_out == 40
    assert rows[3].available == 60 and rows[3].debt_in == 40 and rows[3].remaining == 10
    assert [r.over for r in rows] == [0, 0, 0, 0]


def test_worked_table_both() -> None:
    rows = ledger(100, WORKED, carry_over=True, borrowing=True)
    assert [r.status for r in rows] == ["success"] * 4
    assert rows[0].carried_out == 20
    assert rows[1].available == 120 and rows[1].carried_out == 10
    assert rows[2].available == 110 and rows[2].debt_out == 20 and rows[2].over == 0
    assert rows[3].available == 80 and rows[3].remaining == 30 and rows[3].carried_out == 30
    assert [r.carried_in for r in rows] == [0, 20, 10, 0]
    assert [r.debt_in for r in rows] == [0, 0, 0, 20]


def test_full_row_fields() -> None:
    rows = ledger(100, WORKED, carry_over=True, borrowing=True)
    assert rows[2] == LedgerRow(
        limit=100, limit_amends=0, limit_total=100, carried_in=10, debt_in=0, available=110,
        consumed=130, consumption_amends=0, total_used=130, remaining=-20, carried_out=0,
        debt_out=20, over=0, status="success",
    )


def test_borrowing_moves_over_consumption_to_later_period() -> None:
    none = ledger(100, [150, 100], carry_over=False, borrowing=False)
    assert [r.over for r in none] == [50, 0]
    assert [r.status for r in none] == ["fail", "success"]
    bor = ledger(100, [150, 100], carry_over=False, borrowing=True)
    assert [r.over for r in bor] == [0, 50]
    assert [r.status for r in bor] == ["success", "fail"]
    assert bor[0].debt_out == 50 and bor[1].available == 50


def test_borrowing_capped_by_rest_of_contract() -> None:
    # 400 used in period 0, only 200 left in the contract after it.
    rows = ledger(100, [400, 0, 0], carry_over=False, borrowing=True)
    assert rows[0].debt_out == 200 and rows[0].over == 100
    assert rows[1].available == -100 and rows[1].over == 0  # debt 200 repaid 100 a period
    assert rows[1].debt_out == 100
    assert rows[2].available == 0 and rows[2].over == 0
    last = ledger(100, [0, 0, 130], carry_over=False, borrowing=True)
    assert last[2].debt_out == 0 and last[2].over == 30  # nothing after the last period


def test_limit_amends_including_negative() -> None:
    rows = ledger(100, [100, 100, 100], carry_over=False, borrowing=False,
                  limit_amends=[10, -30, 0])
    assert [r.limit_total for r in rows] == [110, 70, 100]
    assert [r.remaining for r in rows] == [10, -30, 0]
    assert [r.over for r in rows] == [0, 30, 0]
    assert [r.limit for r in rows] == [100, 100, 100]
    assert [r.limit_amends for r in rows] == [10, -30, 0]


def test_consumption_amends_including_negative() -> None:
    rows = ledger(100, [90, 120, 0], carry_over=True, borrowing=False,
                  consumption_amends=[20, -25, 5])
    assert [r.total_used for r in rows] == [110, 95, 5]
    assert [r.consumed for r in rows] == [90, 120, 0]
    assert [r.over for r in rows] == [10, 0, 0]
    assert [r.carried_out for r in rows] == [0, 5, 100]
    assert rows[2].available == 105


def test_negative_limit_total_in_future_never_creates_credit() -> None:
    rows = run_ledger([10, 10], [0, -30], [20, 0], [0, 0], carry_over=False, borrowing=True)
    assert rows[0].debt_out == 0 and rows[0].over == 10
    assert rows[1].carried_in == 0


def test_empty_and_mismatched() -> None:
    assert run_ledger([], [], [], [], carry_over=True, borrowing=True) == []
    with pytest.raises(ValueError):
        run_ledger([1, 1], [0], [0, 0], [0, 0], carry_over=False, borrowing=False)


def test_fast_enough_for_a_policy_toggle() -> None:
    n = 60
    args = ([100] * n, [0] * n, [(i * 37) % 180 for i in range(n)], [0] * n)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _clause in range(10):
            run_ledger(*args, carry_over=True, borrowing=True)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.005


# --- properties (domain.md) --------------------------------------------------

period_inputs = st.lists(
    st.tuples(
        st.integers(0, 500),  # limit
        st.integers(-100, 100),  # limit amend
        st.integers(0, 800),  # consumed
        st.integers(-100, 100),  # consumption amend
    ),
    min_size=0,
    max_size=12,
)


def _split(data, nonnegative=True):
    limits, lam, cons, cam = ([d[k] for d in data] for k in range(4))
    if nonnegative:  # the properties hold for limit_total >= 0 and total_used >= 0
        lam = [max(a, -limits[i]) for i, a in enumerate(lam)]
        cam = [max(a, -cons[i]) for i, a in enumerate(cam)]
    return limits, lam, cons, cam


@settings(max_examples=150, deadline=None)
@given(period_inputs)
def test_both_policies_total_over_is_contract_excess(data) -> None:
    limits, lam, cons, cam = _split(data)
    rows = run_ledger(limits, lam, cons, cam, carry_over=True, borrowing=True)
    total_used = sum(c + a for c, a in zip(cons, cam))
    total_limit = sum(l + a for l, a in zip(limits, lam))
    assert sum(r.over for r in rows) == max(0, total_used - total_limit)


@settings(max_examples=150, deadline=None)
@given(period_inputs)
def test_no_policy_over_is_per_period_excess(data) -> None:
    limits, lam, cons, cam = _split(data)
    rows = run_ledger(limits, lam, cons, cam, carry_over=False, borrowing=False)
    for i, r in enumerate(rows):
        assert r.over == max(0, (cons[i] + cam[i]) - (limits[i] + lam[i]))
        assert r.carried_in == r.debt_in == r.carried_out == r.debt_out == 0


@settings(max_examples=150, deadline=None)
@given(period_inputs)
def test_carry_over_never_raises_over(data) -> None:
    limits, lam, cons, cam = _split(data)
    plain = run_ledger(limits, lam, cons, cam, carry_over=False, borrowing=False)
    carry = run_ledger(limits, lam, cons, cam, carry_over=True, borrowing=False)
    for p, c in zip(plain, carry):
        assert c.over <= p.over


@settings(max_examples=200, deadline=None)
@given(period_inputs, st.booleans(), st.booleans())
def test_basic_invariants(data, carry_over, borrowing) -> None:
    limits, lam, cons, cam = _split(data, nonnegative=False)
    rows = run_ledger(limits, lam, cons, cam, carry_over=carry_over, borrowing=borrowing)
    assert len(rows) == len(data)
    prev_balance = 0
    for i, r in enumerate(rows):
        assert r.limit_total == limits[i] + lam[i]
        assert r.total_used == cons[i] + cam[i]
        assert r.available == r.limit_total + r.carried_in - r.debt_in
        assert r.carried_in - r.debt_in == prev_balance
        assert min(r.carried_in, r.debt_in) == 0
        assert r.remaining == r.available - r.total_used
        assert r.over >= 0 and r.carried_out >= 0 and r.debt_out >= 0
        assert r.status == ("fail" if r.over > 0 else "success")
        if r.remaining >= 0:
            assert r.over == 0 and r.debt_out == 0
            assert r.carried_out == (r.remaining if carry_over else 0)
        else:
            assert r.carried_out == 0
            assert r.over + r.debt_out == -r.remaining
        if not borrowing:
            assert r.debt_out == 0
        if not carry_over:
            assert r.carried_out == 0
        prev_balance = r.carried_out - r.debt_out


# --- SLA rate ------------------------------------------------------------------


def test_sla_rate_basic() -> None:
    assert sla_rate(40, 1, Decimal("99.5")) == (Fraction(39, 40), "fail")
    assert sla_rate(40, 1, Decimal("97.5")) == (Fraction(39, 40), "success")  # exactly at target
    assert sla_rate(40, 1, Decimal("97.51")) == (Fraction(39, 40), "fail")
    assert sla_rate(3, 1, Decimal("66.67")) == (Fraction(2, 3), "fail")  # 66.666.. < 66.67
    assert sla_rate(3, 1, Decimal("66.66")) == (Fraction(2, 3), "success")
    assert sla_rate(5, 0, Decimal("100")) == (Fraction(1), "success")
    assert sla_rate(5, 5, Decimal("0.01")) == (Fraction(0), "fail")


def test_sla_rate_no_issues() -> None:
    assert sla_rate(0, 0, Decimal("100")) == (None, "success")


def test_sla_rate_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        sla_rate(2, 3, Decimal("50"))
