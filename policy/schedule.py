"""Installment schedule arithmetic: exact to the currency's minor unit, anchored due dates.

Rules every schedule follows:

- Amounts are Decimal, rounded once per figure with the policy's rounding mode
  to the currency's minor unit (ISO 4217 exponent: JPY 0, USD 2, KWD 3).
- Without interest, the installments after the down payment sum exactly to
  the amount financed: every installment is the rounded equal share and the
  last installment takes the remainder (positive or negative).
- With an amortized APR, each payment is the rounded annuity payment, and
  each period's interest is the balance times the periodic rate, rounded.
  The last payment is the remaining balance plus its interest, so the
  balance ends at exactly zero and the principal parts sum to the amount
  financed.
- A setup fee is charged with the first payment (the down payment when there
  is one) and is not financed.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache

import holidays
from iso4217 import Currency

CENT = Decimal("0.01")
ZERO = Decimal("0")

# ISO 4217 currencies whose minor unit is not 2 decimal places (ISO 4217
# list one, as published by the SIX maintenance agency). Every other code
# has 2.
MINOR_UNIT_EXCEPTIONS: dict[str, int] = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}

# Installments a year for each frequency, and the length of one period in months.
PERIODS_PER_YEAR = {"weekly": 52, "biweekly": 26, "monthly": 12}
FREQUENCIES = tuple(PERIODS_PER_YEAR)


class ScheduleError(ValueError):
    """Raised when terms cannot produce a valid schedule."""


@dataclass(frozen=True)
class ScheduledPayment:
    """One payment of a plan; sequence 0 is the down payment.

    ``amount`` is ``principal + interest + fee``, and ``balance_after`` the
    principal still owed after this payment.
    """

    sequence: int
    due_date: date
    amount: Decimal
    principal: Decimal | None = None
    interest: Decimal = ZERO
    fee: Decimal = ZERO
    balance_after: Decimal | None = None

    def to_dict(self) -> dict[str, object]:
        principal = self.amount - self.interest - self.fee if self.principal is None else self.principal
        return {
            "sequence": self.sequence,
            "due_date": self.due_date.isoformat(),
            "amount": str(self.amount),
            "principal": str(principal),
            "interest": str(self.interest),
            "fee": str(self.fee),
            "balance_after": None if self.balance_after is None else str(self.balance_after),
        }


def is_currency_code(code: str) -> bool:
    """Return whether ``code`` is a current ISO 4217 alphabetic code, per the iso4217 package's table."""
    try:
        Currency(code)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=512)
def minor_unit(currency: str) -> Decimal:
    """Return the smallest amount of ``currency``: 1 for JPY, 0.01 for USD, 0.001 for KWD."""
    exponent = MINOR_UNIT_EXCEPTIONS.get(currency.upper(), 2)
    return Decimal(1).scaleb(-exponent)


def canonical_amount(amount: Decimal, unit: Decimal = CENT) -> Decimal:
    """Return ``amount`` written to ``unit``: ``100``, ``100.0`` and ``100.00`` all give ``100.00``.

    Every money value of a plan's terms is canonicalised here before it is
    stored or hashed, so the same amount always reads back and hashes the
    same. An amount with a fraction of ``unit`` is returned unchanged, for
    validation to reject with the value the user typed.
    """
    exact = amount.quantize(unit, rounding=ROUND_DOWN)
    return exact if exact == amount else amount


def monthly_due_dates(first_due_date: date, count: int) -> list[date]:
    """Return ``count`` monthly due dates anchored on ``first_due_date``'s day.

    Each date is computed from the anchor, not from the previous date, so an
    anchor on the 31st gives Feb 28 (or 29) and then Mar 31 again.
    """
    return [add_months(first_due_date, offset) for offset in range(count)]


def add_months(anchor: date, months: int) -> date:
    """Return the date ``months`` after ``anchor`` on the anchor's day, or the month's last day when it is shorter.

    Gives the same dates as ``anchor + dateutil.relativedelta(months=months)``
    (a test checks this); written out because the benchmark's schedules spend
    most of their time constructing relativedelta objects.
    """
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    if anchor.day <= 28:
        return date(year, month, anchor.day)
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def due_dates(first_due_date: date, count: int, frequency: str, *, business_day_country: str | None = None) -> list[date]:
    """Return ``count`` due dates at ``frequency`` from ``first_due_date``.

    With ``business_day_country`` (ISO 3166 code), a date on a weekend or a
    holiday of that country moves to the next business day. Later dates are
    still computed from the unshifted anchor.
    """
    if frequency == "monthly":
        dates = monthly_due_dates(first_due_date, count)
    elif frequency in PERIODS_PER_YEAR:
        step = timedelta(days=7 if frequency == "weekly" else 14)
        dates = [first_due_date + step * offset for offset in range(count)]
    else:
        raise ScheduleError(f"frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
    if business_day_country is None:
        return dates
    return [next_business_day(day, business_day_country) for day in dates]


def next_business_day(day: date, country: str) -> date:
    """Return ``day`` or the first later day that is neither a weekend nor a holiday in ``country``."""
    while day.weekday() >= 5 or day in _holidays(country, day.year):
        day += timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=[year])


def periodic_rate(apr: Decimal, frequency: str) -> Decimal:
    """Return the rate per period for an APR in percent a year (nominal, no compounding within the year)."""
    return apr / Decimal(100) / PERIODS_PER_YEAR[frequency]


def annuity_payment(principal: Decimal, rate: Decimal, count: int, *, unit: Decimal, rounding: str) -> Decimal:
    """Return the equal payment P·r / (1 − (1 + r)^−n), rounded to ``unit``."""
    if rate == 0:
        return (principal / count).quantize(unit, rounding=rounding)
    with localcontext() as context:
        context.prec = 34
        payment = principal * rate / (1 - (1 + rate) ** -count)
    return payment.quantize(unit, rounding=rounding)


def build_schedule(
    *,
    balance: Decimal,
    down_payment: Decimal,
    installment_count: int,
    start_date: date,
    first_due_date: date,
    frequency: str = "monthly",
    apr: Decimal = ZERO,
    setup_fee: Decimal = ZERO,
    currency: str = "USD",
    rounding: str = ROUND_HALF_UP,
    business_day_country: str | None = None,
) -> list[ScheduledPayment]:
    """Build the payments of a plan: the down payment on ``start_date``, then the installments.

    Raises :class:`ScheduleError` when the terms cannot give every
    installment a positive amount in the currency's minor unit.
    """
    unit = minor_unit(currency)
    _check_amounts(balance, down_payment, installment_count, unit, apr, setup_fee)
    # Same value, same text: "100.5", "100.50" and "100.500" all become 100.50 in USD.
    balance, down_payment, setup_fee = (amount.quantize(unit) for amount in (balance, down_payment, setup_fee))
    financed = balance - down_payment
    dates = due_dates(first_due_date, installment_count, frequency, business_day_country=business_day_country)
    if apr == 0:
        parts = _equal_parts(financed, installment_count, unit, rounding)
        lines = _without_interest(financed, parts, dates)
    else:
        lines = _amortized(financed, periodic_rate(apr, frequency), dates, unit, rounding)

    payments = []
    if down_payment > 0:
        payments.append(ScheduledPayment(0, start_date, down_payment, down_payment, ZERO, ZERO, financed))
    payments.extend(lines)
    if setup_fee > 0:
        first = payments[0]
        payments[0] = ScheduledPayment(
            first.sequence, first.due_date, first.amount + setup_fee, first.principal, first.interest, setup_fee, first.balance_after
        )
    return payments


def plan_interest(
    *,
    financed: Decimal,
    installment_count: int,
    frequency: str = "monthly",
    apr: Decimal = ZERO,
    currency: str = "USD",
    rounding: str = ROUND_HALF_UP,
) -> Decimal:
    """Return the total interest of a plan, by the same arithmetic as :func:`build_schedule` but without dates.

    Raises :class:`ScheduleError` for terms that :func:`build_schedule` rejects.
    """
    unit = minor_unit(currency)
    if installment_count < 1 or financed <= 0:
        raise ScheduleError(f"{financed} in {installment_count} installments is not a plan")
    if apr == 0:
        _equal_parts(financed, installment_count, unit, rounding)
        return ZERO
    rate = periodic_rate(apr, frequency)
    payment = annuity_payment(financed, rate, installment_count, unit=unit, rounding=rounding)
    remaining = financed
    total = ZERO
    for sequence in range(1, installment_count + 1):
        interest = (remaining * rate).quantize(unit, rounding=rounding)
        principal = remaining if sequence == installment_count else payment - interest
        if sequence < installment_count and (principal <= 0 or principal >= remaining):
            raise ScheduleError(f"{financed} at this rate cannot be repaid in {installment_count} installments")
        remaining -= principal
        total += interest
    return total


def equal_installments(
    *,
    balance: Decimal,
    down_payment: Decimal,
    installment_count: int,
    start_date: date,
    first_due_date: date,
    rounding: str = ROUND_HALF_UP,
) -> list[ScheduledPayment]:
    """Split ``balance`` into a down payment and equal monthly installments in cents, without interest."""
    return build_schedule(
        balance=balance,
        down_payment=down_payment,
        installment_count=installment_count,
        start_date=start_date,
        first_due_date=first_due_date,
        rounding=rounding,
    )


def _check_amounts(balance: Decimal, down_payment: Decimal, count: int, unit: Decimal, apr: Decimal, fee: Decimal) -> None:
    if count < 1:
        raise ScheduleError(f"installment count must be at least 1, got {count}")
    if down_payment < 0:
        raise ScheduleError(f"down payment must not be negative, got {down_payment}")
    if down_payment >= balance:
        raise ScheduleError(f"down payment {down_payment} must be less than the balance {balance}")
    if apr < 0:
        raise ScheduleError(f"APR must not be negative, got {apr}")
    if fee < 0:
        raise ScheduleError(f"setup fee must not be negative, got {fee}")
    places = -unit.as_tuple().exponent  # type: ignore[operator]
    for name, amount in (("balance", balance), ("down payment", down_payment), ("setup fee", fee)):
        if amount != amount.quantize(unit):
            raise ScheduleError(f"{name} {amount} has more than {places} decimal places for this currency")


def _equal_parts(financed: Decimal, count: int, unit: Decimal, rounding: str) -> list[Decimal]:
    """Split ``financed`` into ``count`` parts: equal rounded shares, the last taking the remainder."""
    regular = (financed / count).quantize(unit, rounding=rounding)
    last = financed - regular * (count - 1)
    if last <= 0:
        # Rounding up across many small installments overshoots the total, so
        # round down instead and let the last installment take the remainder.
        regular = (financed / count).quantize(unit, rounding=ROUND_DOWN)
        last = financed - regular * (count - 1)
    if regular <= 0:
        raise ScheduleError(f"{financed} cannot be split into {count} installments of at least {unit}; use fewer installments")
    return [regular] * (count - 1) + [last]


def _without_interest(financed: Decimal, parts: list[Decimal], dates: list[date]) -> list[ScheduledPayment]:
    lines = []
    remaining = financed
    for sequence, (due, part) in enumerate(zip(dates, parts), start=1):
        remaining -= part
        lines.append(ScheduledPayment(sequence, due, part, part, ZERO, ZERO, remaining))
    return lines


def _amortized(financed: Decimal, rate: Decimal, dates: list[date], unit: Decimal, rounding: str) -> list[ScheduledPayment]:
    count = len(dates)
    payment = annuity_payment(financed, rate, count, unit=unit, rounding=rounding)
    lines = []
    remaining = financed
    for sequence, due in enumerate(dates, start=1):
        interest = (remaining * rate).quantize(unit, rounding=rounding)
        if sequence == count:
            principal = remaining
        else:
            principal = payment - interest
            if principal <= 0 or principal >= remaining:
                raise ScheduleError(
                    f"{financed} at this rate cannot be repaid in {count} installments with every installment "
                    "reducing the balance; use fewer installments or a lower rate"
                )
        remaining -= principal
        lines.append(ScheduledPayment(sequence, due, principal + interest, principal, interest, ZERO, remaining))
    return lines
