from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from policy.schedule import ScheduleError, equal_installments, monthly_due_dates


def test_installments_sum_exactly_to_balance() -> None:
    payments = equal_installments(
        balance=Decimal("1000.00"),
        down_payment=Decimal("100.00"),
        installment_count=7,
        start_date=date(2013, 3, 1),
        first_due_date=date(2013, 4, 1),
    )

    assert payments[0].sequence == 0
    assert payments[0].amount == Decimal("100.00")
    assert payments[0].due_date == date(2013, 3, 1)
    assert [p.amount for p in payments[1:]] == [Decimal("128.57")] * 6 + [Decimal("128.58")]
    assert sum(p.amount for p in payments) == Decimal("1000.00")


def test_half_up_rounding_last_absorbs() -> None:
    payments = equal_installments(
        balance=Decimal("0.05"),
        down_payment=Decimal("0.00"),
        installment_count=2,
        start_date=date(2013, 1, 1),
        first_due_date=date(2013, 2, 1),
        rounding=ROUND_HALF_UP,
    )

    assert [p.amount for p in payments] == [Decimal("0.03"), Decimal("0.02")]
    assert all(p.sequence > 0 for p in payments)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 11, 12, 24, 59])
@pytest.mark.parametrize("balance", ["100.00", "430.55", "99999.99", "1.00", "12345.67"])
def test_sums_hold_for_many_splits(balance: str, count: int) -> None:
    payments = equal_installments(
        balance=Decimal(balance),
        down_payment=Decimal("0.00"),
        installment_count=count,
        start_date=date(2013, 1, 1),
        first_due_date=date(2013, 1, 31),
    )

    assert len(payments) == count
    assert sum(p.amount for p in payments) == Decimal(balance)
    assert all(p.amount > 0 for p in payments)
    assert max(p.amount for p in payments) - min(p.amount for p in payments) < Decimal("0.01") * count


def test_due_dates_keep_anchor_day() -> None:
    dates = monthly_due_dates(date(2013, 1, 31), 4)

    assert dates == [date(2013, 1, 31), date(2013, 2, 28), date(2013, 3, 31), date(2013, 4, 30)]


def test_leap_february_clamps_to_29() -> None:
    assert monthly_due_dates(date(2012, 1, 30), 2)[1] == date(2012, 2, 29)


@pytest.mark.parametrize(
    "balance, down, count, message",
    [
        ("100.00", "100.00", 3, "less than the balance"),
        ("100.00", "-1.00", 3, "must not be negative"),
        ("100.00", "0.00", 0, "at least 1"),
        ("0.02", "0.00", 3, "use fewer installments"),
        ("100.001", "0.00", 3, "more than 2 decimal places"),
    ],
)
def test_impossible_terms_raise(balance: str, down: str, count: int, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        equal_installments(
            balance=Decimal(balance),
            down_payment=Decimal(down),
            installment_count=count,
            start_date=date(2013, 1, 1),
            first_due_date=date(2013, 2, 1),
        )
