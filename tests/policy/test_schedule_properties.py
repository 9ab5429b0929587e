"""Schedules across currencies, frequencies and rates: exact sums, order, zero final balance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dateutil.relativedelta import relativedelta

from policy.schedule import ScheduleError, add_months, build_schedule, due_dates, minor_unit, next_business_day, plan_interest

CURRENCIES = ["USD", "JPY", "KWD", "TWD", "EUR", "CLF"]


@st.composite
def plans(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    unit = minor_unit(currency)
    count = draw(st.integers(min_value=1, max_value=60))
    # At least 100 minor units per installment, so every installment can be positive.
    balance_units = draw(st.integers(min_value=100 * count + 1, max_value=10**9))
    balance = Decimal(balance_units) * unit
    down = Decimal(draw(st.integers(min_value=0, max_value=balance_units // 2))) * unit
    return {
        "balance": balance,
        "down_payment": down,
        "installment_count": count,
        "start_date": draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))),
        "frequency": draw(st.sampled_from(["weekly", "biweekly", "monthly"])),
        "apr": draw(st.sampled_from([Decimal("0"), Decimal("0.01"), Decimal("3.5"), Decimal("12"), Decimal("29.99")])),
        "currency": currency,
        "rounding": draw(st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN])),
        "first_offset": draw(st.integers(min_value=1, max_value=60)),
    }


def build(plan: dict) -> list:
    arguments = dict(plan)
    offset = arguments.pop("first_offset")
    return build_schedule(first_due_date=arguments["start_date"] + timedelta(days=offset), **arguments)


@settings(max_examples=300, deadline=None)
@given(plans())
def test_schedule_invariants(plan: dict) -> None:
    try:
        schedule = build(plan)
    except ScheduleError:
        # Only a high rate on a long plan may leave no principal in a payment.
        assert plan["apr"] > 0
        return
    unit = minor_unit(plan["currency"])
    financed = plan["balance"] - plan["down_payment"]
    installments = [payment for payment in schedule if payment.sequence > 0]

    assert len(installments) == plan["installment_count"]
    assert sum(payment.principal for payment in installments) == financed
    assert sum(payment.principal for payment in schedule) == plan["balance"]
    assert installments[-1].balance_after == 0
    for payment in schedule:
        assert payment.amount > 0
        assert payment.principal > 0
        assert payment.interest >= 0
        assert payment.amount == payment.principal + payment.interest + payment.fee
        assert payment.amount == payment.amount.quantize(unit)
    dates = [payment.due_date for payment in schedule]
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates) or plan["down_payment"] > 0
    balances = [payment.balance_after for payment in installments]
    assert balances == sorted(balances, reverse=True)
    if plan["apr"] == 0:
        assert len({payment.amount for payment in installments[:-1]}) <= 1


@settings(max_examples=100, deadline=None)
@given(plans(), st.integers(min_value=0, max_value=3))
def test_schedule_ignores_decimal_formatting(plan: dict, zeros: int) -> None:
    """Amounts written with more trailing zeros, as from "1200.5000", give the same schedule."""
    padded = dict(plan)
    for name in ("balance", "down_payment"):
        text = str(plan[name])
        if "." not in text and zeros:
            text += "."
        padded[name] = Decimal(text + "0" * zeros)
    try:
        expected = build(plan)
    except ScheduleError:
        return

    assert [payment.to_dict() for payment in build(padded)] == [payment.to_dict() for payment in expected]


@pytest.mark.parametrize(
    "currency, balance, parts",
    [
        ("JPY", "100000", ["33333", "33333", "33334"]),
        ("KWD", "100.000", ["33.333", "33.333", "33.334"]),
        ("USD", "100.00", ["33.33", "33.33", "33.34"]),
    ],
)
def test_minor_units_per_currency(currency: str, balance: str, parts: list[str]) -> None:
    schedule = build_schedule(
        balance=Decimal(balance), down_payment=Decimal(0), installment_count=3, start_date=date(2026, 1, 1), first_due_date=date(2026, 2, 1), currency=currency
    )

    assert [str(payment.amount) for payment in schedule] == parts


def test_too_many_places_rejected() -> None:
    with pytest.raises(ScheduleError, match="more than 0 decimal places"):
        build_schedule(balance=Decimal("100.5"), down_payment=Decimal(0), installment_count=2, start_date=date(2026, 1, 1), first_due_date=date(2026, 2, 1), currency="JPY")


def test_amortized_known_payment() -> None:
    """10,000 at 12% a year over 12 months: the annuity payment is 888.49."""
    schedule = build_schedule(
        balance=Decimal("10000.00"), down_payment=Decimal(0), installment_count=12, start_date=date(2026, 1, 1), first_due_date=date(2026, 2, 1), apr=Decimal("12")
    )

    assert schedule[0].amount == Decimal("888.49")
    assert schedule[0].interest == Decimal("100.00")
    assert schedule[-1].balance_after == 0
    assert sum(payment.interest for payment in schedule) == sum(payment.amount for payment in schedule) - Decimal("10000.00")


@pytest.mark.parametrize(
    "first, expected",
    [
        (date(2026, 1, 31), [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]),
        (date(2028, 1, 31), [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30), date(2028, 5, 31)]),
        (date(2028, 2, 29), [date(2028, 2, 29), date(2028, 3, 29), date(2028, 4, 29), date(2028, 5, 29), date(2028, 6, 29)]),
        (date(2027, 12, 30), [date(2027, 12, 30), date(2028, 1, 30), date(2028, 2, 29), date(2028, 3, 30), date(2028, 4, 30)]),
    ],
)
def test_month_end_and_leap_year_anchor(first: date, expected: list[date]) -> None:
    assert due_dates(first, 5, "monthly") == expected


def test_weekly_and_biweekly_steps() -> None:
    assert due_dates(date(2028, 2, 22), 3, "weekly") == [date(2028, 2, 22), date(2028, 2, 29), date(2028, 3, 7)]
    assert due_dates(date(2028, 2, 22), 3, "biweekly") == [date(2028, 2, 22), date(2028, 3, 7), date(2028, 3, 21)]


def test_business_day_shift_keeps_anchor() -> None:
    # 2026-07-04 is a Saturday and Independence Day (observed on Friday 3 July);
    # 2026-10-04 is a Sunday; 2026-08-04 and 2026-09-04 are weekdays.
    dates = due_dates(date(2026, 7, 4), 4, "monthly", business_day_country="US")

    assert dates == [date(2026, 7, 6), date(2026, 8, 4), date(2026, 9, 4), date(2026, 10, 5)]


def test_business_day_shift_skips_holiday() -> None:
    # 2026-12-25 is a Friday and Christmas Day.
    assert next_business_day(date(2026, 12, 25), "US") == date(2026, 12, 28)
    assert next_business_day(date(2026, 12, 24), "US") == date(2026, 12, 24)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), st.integers(min_value=0, max_value=240))
def test_add_months_matches_relativedelta(anchor: date, months: int) -> None:
    assert add_months(anchor, months) == anchor + relativedelta(months=months)


@settings(max_examples=200, deadline=None)
@given(plans())
def test_plan_interest_matches_schedule(plan: dict) -> None:
    try:
        schedule = build(plan)
    except ScheduleError:
        with pytest.raises(ScheduleError):
            plan_interest(
                financed=plan["balance"] - plan["down_payment"],
                installment_count=plan["installment_count"],
                frequency=plan["frequency"],
                apr=plan["apr"],
                currency=plan["currency"],
                rounding=plan["rounding"],
            )
        return

    interest = plan_interest(
        financed=plan["balance"] - plan["down_payment"],
        installment_count=plan["installment_count"],
        frequency=plan["frequency"],
        apr=plan["apr"],
        currency=plan["currency"],
        rounding=plan["rounding"],
    )

    assert interest == sum(payment.interest for payment in schedule)
