"""Installment schedule arithmetic: exact to the cent, anchored due dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

CENT = Decimal("0.01")


def minor_units(amount: Decimal) -> Decimal:
    """Return ``amount`` written to the cent: ``100``, ``100.0`` and ``100.00`` all give ``100.00``.

    Every money value is canonicalised here before it is stored or hashed,
    so the same amount always reads back and hashes the same. An amount
    with a fraction of a cent is returned unchanged, for validation to
    reject with the value the user typed.
    """
    exact = amount.quantize(CENT, rounding=ROUND_DOWN)
    return exact if exact == amount else amount


class ScheduleError(ValueError):
    """Raised when terms cannot produce a valid schedule."""


@dataclass(frozen=True)
class ScheduledPayment:
    """One payment of a plan; sequence 0 is the down payment."""

    sequence: int
    due_date: date
    amount: Decimal

    def to_dict(self) -> dict[str, object]:
        return {"sequence": self.sequence, "due_date": self.due_date.isoformat(), "amount": str(minor_units(self.amount))}


def monthly_due_dates(first_due_date: date, count: int) -> list[date]:
    """Return ``count`` monthly due dates anchored on ``first_due_date``'s day.

    Each date is computed from the anchor, not from the previous date, so an
    anchor on the 31st gives Feb 28 (or 29) and then Mar 31 again.
    """
    return [first_due_date + relativedelta(months=offset) for offset in range(count)]


def equal_installments(
    *,
    balance: Decimal,
    down_payment: Decimal,
    installment_count: int,
    start_date: date,
    first_due_date: date,
    rounding: str = ROUND_HALF_UP,
) -> list[ScheduledPayment]:
    """Split ``balance`` into a down payment and equal monthly installments.

    Each installment is the financed amount divided by the count, rounded to
    the cent with ``rounding``. The last installment absorbs the difference so
    the payments sum exactly to ``balance``. Where that would leave it at zero
    or below, the others are rounded down instead. The down payment, when there is
    one, is due on ``start_date``.
    """
    if installment_count < 1:
        raise ScheduleError(f"installment count must be at least 1, got {installment_count}")
    if down_payment < 0:
        raise ScheduleError(f"down payment must not be negative, got {down_payment}")
    if down_payment >= balance:
        raise ScheduleError(f"down payment {down_payment} must be less than the balance {balance}")
    for name, amount in (("balance", balance), ("down payment", down_payment)):
        if amount != amount.quantize(CENT):
            raise ScheduleError(f"{name} {amount} has more than 2 decimal places")
    balance, down_payment = minor_units(balance), minor_units(down_payment)

    financed = balance - down_payment
    regular = (financed / installment_count).quantize(CENT, rounding=rounding)
    last = financed - regular * (installment_count - 1)
    if last <= 0:
        # Rounding up across many small installments overshoots the total, so
        # round down instead and let the last installment take the remainder.
        regular = (financed / installment_count).quantize(CENT, rounding=ROUND_DOWN)
        last = financed - regular * (installment_count - 1)
    if regular <= 0:
        raise ScheduleError(
            f"{financed} cannot be split into {installment_count} installments of at least 0.01; "
            "use fewer installments"
        )

    payments = []
    if down_payment > 0:
        payments.append(ScheduledPayment(0, start_date, down_payment))
    due_dates = monthly_due_dates(first_due_date, installment_count)
    for sequence, due in enumerate(due_dates, start=1):
        amount = last if sequence == installment_count else regular
        payments.append(ScheduledPayment(sequence, due, amount))
    return payments
