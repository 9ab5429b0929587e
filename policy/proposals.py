"""Schedules and totals for terms, the counter-proposal and alternative plan structures."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from policy.config import Policy
from policy.engine import Alternative, Terms, Totals, deviation_flags, max_installments, min_down_payment, regular_installment
from policy.schedule import PERIODS_PER_YEAR, ScheduledPayment, ScheduleError, build_schedule, minor_unit, plan_interest

ZERO = Decimal("0")
MAX_ALTERNATIVES = 3
# The "larger down payment" alternative adds this share of the balance to the down payment.
LARGER_DOWN_PAYMENT_STEP = Decimal("0.20")


def schedule_for(policy: Policy, terms: Terms, as_of: date, currency: str) -> list[ScheduledPayment]:
    """Build the schedule of ``terms`` with the policy's setup fee, rounding and business-day calendar."""
    return build_schedule(
        balance=terms.balance,
        down_payment=terms.down_payment,
        installment_count=terms.installment_count,
        start_date=as_of,
        first_due_date=terms.first_due_date,
        frequency=terms.frequency,
        apr=terms.apr,
        setup_fee=policy.terms.setup_fee,
        currency=currency,
        rounding=policy.rounding_mode,
        business_day_country=policy.schedule.business_day_country,
    )


def totals_of(schedule: list[ScheduledPayment]) -> Totals:
    down = sum((p.principal or ZERO for p in schedule if p.sequence == 0), ZERO)
    principal = sum((p.principal or ZERO for p in schedule if p.sequence > 0), ZERO)
    interest = sum((p.interest for p in schedule), ZERO)
    fees = sum((p.fee for p in schedule), ZERO)
    return Totals(down, principal, interest, fees, sum((p.amount for p in schedule), ZERO))


def counter_proposal_for(policy: Policy, terms: Terms, as_of: date, risk_grade: str, *, hardship: bool, currency: str) -> Terms | None:
    """Return the nearest terms inside standard policy, or None when no such terms exist.

    Each deviating term moves to its nearest standard value. The frequency
    becomes an allowed one (monthly first) for the same plan length, and the
    length becomes at most the longest allowed. The first due date moves into
    its window, the APR down to its cap and the down payment up to its
    minimum. When the installment then falls below the minimum amount, the
    plan gets fewer installments.
    """
    allowed = policy.schedule.frequencies
    if terms.frequency in allowed:
        frequency = terms.frequency
    elif "monthly" in allowed:
        frequency = "monthly"
    else:
        frequency = allowed[0]
    count = _same_length(terms.installment_count, terms.frequency, frequency)
    count = min(count, _max_count(policy, risk_grade, frequency, hardship))

    earliest = as_of + timedelta(days=policy.schedule.min_first_due_days)
    latest = as_of + timedelta(days=policy.schedule.max_first_due_days)
    first_due = min(max(terms.first_due_date, earliest), latest)

    interest = policy.terms.interest
    apr = ZERO if interest.mode == "none" or (hardship and policy.hardship.waive_interest) else min(terms.apr, interest.max_apr)
    down = max(terms.down_payment, min_down_payment(policy, terms.balance, currency))
    counter = Terms(terms.balance, down, max(count, 1), first_due, frequency, apr)
    counter = _fewer_until_minimum(policy, counter, currency)
    if deviation_flags(policy, counter, as_of, risk_grade, hardship=hardship, currency=currency):
        return None
    return counter


def alternatives_for(policy: Policy, base: Terms, as_of: date, risk_grade: str, *, hardship: bool, currency: str) -> list[Alternative]:
    """Return up to three plan structures inside standard policy that differ from ``base``.

    Candidates, in order: a larger down payment, a shorter plan, the
    longest standard plan, and each other allowed frequency for the same
    length. Candidates with a deviation or without a valid schedule are left
    out.
    """
    unit = minor_unit(currency)
    step = (base.balance * LARGER_DOWN_PAYMENT_STEP).quantize(unit, rounding=ROUND_HALF_UP)
    longest = _max_count(policy, risk_grade, base.frequency, hardship)
    balance, down, count, first_due, apr = base.balance, base.down_payment, base.installment_count, base.first_due_date, base.apr
    larger_down = max(down + step, min_down_payment(policy, balance, currency))
    candidates = [
        ("larger down payment", Terms(balance, larger_down, count, first_due, base.frequency, apr)),
        ("shorter plan", Terms(balance, down, max(1, count // 2), first_due, base.frequency, apr)),
        ("longest standard plan", Terms(balance, down, longest, first_due, base.frequency, apr)),
    ]
    for frequency in policy.schedule.frequencies:
        if frequency != base.frequency:
            same_length = _same_length(count, base.frequency, frequency)
            candidates.append((f"{frequency} payments", Terms(balance, down, same_length, first_due, frequency, apr)))

    alternatives: list[Alternative] = []
    seen = {base}
    for label, terms in candidates:
        if terms in seen or terms.down_payment >= terms.balance or terms.installment_count < 1:
            continue
        seen.add(terms)
        if deviation_flags(policy, terms, as_of, risk_grade, hardship=hardship, currency=currency):
            continue
        try:
            totals = _totals_without_schedule(policy, terms, currency)
        except ScheduleError:
            continue
        periodic = regular_installment(terms, currency, policy.rounding_mode) or ZERO
        alternatives.append(Alternative(label, terms, periodic, totals.interest + totals.fees, totals))
        if len(alternatives) == MAX_ALTERNATIVES:
            break
    return alternatives


def _totals_without_schedule(policy: Policy, terms: Terms, currency: str) -> Totals:
    """Return the totals :func:`schedule_for` would give, without building the dated schedule."""
    financed = terms.balance - terms.down_payment
    interest = plan_interest(
        financed=financed,
        installment_count=terms.installment_count,
        frequency=terms.frequency,
        apr=terms.apr,
        currency=currency,
        rounding=policy.rounding_mode,
    )
    fee = policy.terms.setup_fee
    return Totals(terms.down_payment, financed, interest, fee, terms.balance + interest + fee)


def _same_length(count: int, old_frequency: str, new_frequency: str) -> int:
    """Convert an installment count to the count at another frequency covering the same length, rounded down."""
    old = PERIODS_PER_YEAR.get(old_frequency, 12)
    new = PERIODS_PER_YEAR[new_frequency]
    return max(1, count * new // old)


def _max_count(policy: Policy, risk_grade: str, frequency: str, hardship: bool) -> int:
    months = max_installments(policy, risk_grade, hardship=hardship)
    return max(1, months * PERIODS_PER_YEAR[frequency] // 12)


def _fewer_until_minimum(policy: Policy, terms: Terms, currency: str) -> Terms:
    minimum = policy.terms.min_installment_amount
    if minimum <= 0:
        return terms
    financed = terms.balance - terms.down_payment
    count = min(terms.installment_count, max(1, int(financed // minimum)))
    candidate = replace(terms, installment_count=count)
    while count > 1 and (regular_installment(candidate, currency, policy.rounding_mode) or ZERO) < minimum:
        count -= 1
        candidate = replace(terms, installment_count=count)
    return candidate
