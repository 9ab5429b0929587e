"""Plan payments from a CSV file or the payments webhook, applied to installments.

A payment is identified by its reference. A second payment with the same
reference, account and amount, from either source, is reported as already
recorded and changes nothing. One with the same reference and a different
amount or account is a conflict, kept as an audit event for reconciliation. A payment for an unknown account, or for an account with no plan in
force, is kept as an :class:`storage.models.UnmatchedPayment` and reported.
A zero amount is rejected, because it would record nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.messages import request_label
from bot.plan_ledger import allocate, reverse_late_marks
from bot.text_input import control_problem
from storage.audit import record_event
from storage.importer import RowError, column_positions, parse_amount, read_records
from storage.models import Account, Agreement, Installment, Payment, PaymentAllocation, PlanRequest, UnmatchedPayment

logger = logging.getLogger(__name__)

PAYMENT_COLUMNS = ("reference", "account_id", "paid_on", "amount")
MAX_REFERENCE_LENGTH = 128
# The length of accounts.id.
MAX_ACCOUNT_ID_LENGTH = 64
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
# NOTE: an estimate, not a sourced limit. Dates outside this window are
# treated as typing mistakes, allowing a bank a few days of value dating.
EARLIEST_PAYMENT_DATE = date(2000, 1, 1)
MAX_DAYS_AHEAD = 5

Outcome = Literal["applied", "unmatched", "duplicate", "conflict"]


@dataclass(frozen=True)
class PaymentInput:
    reference: str
    account_id: str
    paid_on: date
    amount: Decimal


@dataclass(frozen=True)
class PaymentResult:
    reference: str
    outcome: Outcome
    request_id: int | None
    # Human-readable account of where the money went.
    detail: str


@dataclass
class PaymentImportReport:
    rows_read: int = 0
    results: list[PaymentResult] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def skipped(self) -> int:
        return len({error.row for error in self.errors})


def record_payment(session: Session, payment: PaymentInput, *, source: str, now: datetime) -> PaymentResult:
    """Store one payment and apply it to the account's plan in force, inside the caller's transaction."""
    earlier = _already_recorded(session, payment.reference)
    if earlier is not None:
        return _repeat(session, payment, earlier, source=source, now=now)

    account = session.get(Account, payment.account_id)
    request = _plan_in_force(session, payment.account_id) if account is not None else None
    if request is None:
        reason = (
            f"account {payment.account_id!r} is not known"
            if account is None
            else f"account {payment.account_id} has no payment plan in force"
        )
        unmatched = UnmatchedPayment(
            reference=payment.reference, account_id=payment.account_id, paid_on=payment.paid_on,
            amount=payment.amount, source=source, reason=reason, received_at=now,
        )
        repeat = _insert_once(session, unmatched, payment, source=source, now=now)
        if repeat is not None:
            return repeat
        logger.warning("payment %s kept as unmatched: %s", payment.reference, reason)
        return PaymentResult(payment.reference, "unmatched", None, f"kept as unmatched: {reason}")

    stored = Payment(account_id=payment.account_id, paid_on=payment.paid_on, amount=payment.amount, source=source, reference=payment.reference)
    repeat = _insert_once(session, stored, payment, source=source, now=now)
    if repeat is not None:
        return repeat
    for installment in reverse_late_marks(session, stored, request.id):
        record_event(
            session,
            actor=f"system:payments:{source}",
            action="installment.late_reversed",
            at=now,
            request_id=request.id,
            revision=request.current_revision,
            before={"installment": installment.sequence, "status": "late"},
            after={"installment": installment.sequence, "status": "scheduled", "late_fee": str(installment.late_fee),
                   "reason": f"payment {payment.reference} was made on {payment.paid_on.isoformat()}, within the grace period"},
        )
    allocations = allocate(session, stored, request.id)
    sequences = {
        installment.id: installment.sequence
        for installment in session.scalars(select(Installment).where(Installment.request_id == request.id))
    }
    parts = [_allocation_text(allocation, sequences) for allocation in allocations]
    record_event(
        session,
        actor=f"system:payments:{source}",
        action="payment.applied",
        at=now,
        request_id=request.id,
        revision=request.current_revision,
        before={},
        after={
            "reference": payment.reference,
            "amount": str(payment.amount),
            "paid_on": payment.paid_on.isoformat(),
            "allocations": [
                {
                    "installment_id": allocation.installment_id,
                    "installment": sequences.get(allocation.installment_id) if allocation.installment_id is not None else None,
                    "kind": allocation.kind,
                    "amount": str(allocation.amount),
                }
                for allocation in allocations
            ],
        },
    )
    return PaymentResult(payment.reference, "applied", request.id, f"{request_label(request.id)}: " + ", ".join(parts))


def _allocation_text(allocation: PaymentAllocation, sequences: dict[int, int]) -> str:
    """Say where one part of a payment went, naming installments by their number in the plan."""
    if allocation.installment_id is None:
        return f"{allocation.amount} to credit"
    sequence = sequences[allocation.installment_id]
    name = "the down payment" if sequence == 0 else f"installment {sequence}"
    if allocation.kind == "late_fee":
        return f"{allocation.amount} to the late fee of {name}"
    return f"{allocation.amount} to {name}"


def import_payments(session: Session, path: Path, *, now: datetime) -> PaymentImportReport:
    """Record every valid row of a payments CSV; report each bad row with its line, column and value.

    Columns: reference, account_id, paid_on (YYYY-MM-DD), amount. The caller commits.
    """
    path = Path(path)
    header, records = read_records(path)
    positions = column_positions(path, header, PAYMENT_COLUMNS, ())
    report = PaymentImportReport(rows_read=len(records))
    seen: dict[str, int] = {}
    for line, fields in records:
        payment, errors = _parse_payment_row(line, fields, header, positions, now.date())
        if payment is not None and payment.reference in seen:
            errors = [RowError(line, "reference", payment.reference, f"reference {payment.reference} appears on line {seen[payment.reference]} too; each payment needs its own reference")]
        if errors:
            report.errors.extend(errors)
            continue
        assert payment is not None
        seen[payment.reference] = line
        report.results.append(record_payment(session, payment, source="import", now=now))
    return report


def parse_payment(
    reference: object, account_id: object, paid_on: object, amount: object, *, today: date
) -> tuple[PaymentInput | None, dict[str, str]]:
    """Check the four fields of one payment; return it, or a message per bad field.

    ``paid_on`` must be written YYYY-MM-DD and fall between
    ``EARLIEST_PAYMENT_DATE`` and ``MAX_DAYS_AHEAD`` days after ``today``.
    """
    errors: dict[str, str] = {}
    reference_text = str(reference or "").strip()
    account_text = str(account_id or "").strip()
    if not reference_text:
        errors["reference"] = "reference is missing; every payment needs the payer's or processor's reference"
    elif len(reference_text) > MAX_REFERENCE_LENGTH:
        errors["reference"] = f"reference is {len(reference_text)} characters long; at most {MAX_REFERENCE_LENGTH} are allowed"
    elif (problem := control_problem("reference", reference_text)) is not None:
        errors["reference"] = problem
    if not account_text:
        errors["account_id"] = "account_id is missing; give the customer account the payment is for"
    elif len(account_text) > MAX_ACCOUNT_ID_LENGTH:
        errors["account_id"] = f"account_id is {len(account_text)} characters long; at most {MAX_ACCOUNT_ID_LENGTH} are allowed"
    elif (problem := control_problem("account_id", account_text)) is not None:
        errors["account_id"] = problem
    paid, problem = _parse_paid_on(str(paid_on or "").strip(), today)
    if problem is not None:
        errors["paid_on"] = problem
    amount_text = str(amount or "").strip()
    value, problem = parse_amount(amount_text, "amount")
    if amount_text.startswith("-"):
        errors["amount"] = f"amount {amount_text} is negative; a payment must be more than zero"
    elif problem is not None:
        errors["amount"] = problem
    elif value is not None and value == 0:
        errors["amount"] = "amount is 0.00; a payment must be more than zero"
    if errors:
        return None, errors
    assert paid is not None
    assert value is not None
    return PaymentInput(reference_text, account_text, paid, value), {}


def _parse_paid_on(text: str, today: date) -> tuple[date | None, str | None]:
    # date.fromisoformat also takes 20130715 and 2013-W29-1; payments use one form.
    if DATE_PATTERN.fullmatch(text) is None:
        return None, f"paid_on {text!r} is not a date written YYYY-MM-DD, for example 2013-07-15"
    try:
        paid = date.fromisoformat(text)
    except ValueError:
        return None, f"paid_on {text!r} is not a valid date; expected YYYY-MM-DD, for example 2013-07-15"
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    if paid < EARLIEST_PAYMENT_DATE:
        return None, f"paid_on {text} is before {EARLIEST_PAYMENT_DATE.isoformat()}; check the year"
    if paid > latest:
        return None, f"paid_on {text} is more than {MAX_DAYS_AHEAD} days after today ({today.isoformat()}); a payment cannot be dated that far ahead"
    return paid, None


def _parse_payment_row(
    line: int, fields: list[str], header: list[str], positions: dict[str, int], today: date
) -> tuple[PaymentInput | None, list[RowError]]:
    if len(fields) != len(header):
        message = f"row has {len(fields)} fields but the header has {len(header)}; check for a missing or extra comma"
        return None, [RowError(line, None, None, message)]
    values = {name: fields[position].strip() for name, position in positions.items()}
    payment, problems = parse_payment(values["reference"], values["account_id"], values["paid_on"], values["amount"], today=today)
    return payment, [RowError(line, column, values[column], message) for column, message in problems.items()]


def _already_recorded(session: Session, reference: str) -> tuple[str, Decimal] | None:
    """Return the account and amount stored under ``reference``, or None when it is new."""
    for model in (Payment, UnmatchedPayment):
        row = session.execute(select(model.account_id, model.amount).where(model.reference == reference)).first()
        if row is not None:
            return row.account_id, row.amount
    return None


def _insert_once(session: Session, row: Payment | UnmatchedPayment, payment: PaymentInput, *, source: str, now: datetime) -> PaymentResult | None:
    """Insert ``row`` in a savepoint; when a concurrent call stored the reference first, return what that means.

    Two deliveries of one payment can both pass the check for an earlier
    reference before either commits. The unique reference then stops the
    second, which is reported as a repeat instead of failing.
    """
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        earlier = _already_recorded(session, payment.reference)
        if earlier is None:
            raise
        logger.info("payment %s was recorded by a concurrent call", payment.reference)
        return _repeat(session, payment, earlier, source=source, now=now)
    return None


def _repeat(session: Session, payment: PaymentInput, earlier: tuple[str, Decimal], *, source: str, now: datetime) -> PaymentResult:
    """Return the result for a reference seen before: a duplicate when it matches, else a conflict kept for reconciliation."""
    account_id, amount = earlier
    if (account_id, amount) == (payment.account_id, payment.amount):
        return PaymentResult(payment.reference, "duplicate", None, f"payment {payment.reference} was already recorded; nothing changed")
    detail = f"conflict: reference {payment.reference} was already recorded with amount {amount} for account {account_id}"
    record_event(
        session,
        actor=f"system:payments:{source}",
        action="payment.conflict",
        at=now,
        request_id=None,
        revision=None,
        before={"reference": payment.reference, "account_id": account_id, "amount": str(amount)},
        after={"reference": payment.reference, "account_id": payment.account_id, "amount": str(payment.amount), "paid_on": payment.paid_on.isoformat()},
    )
    logger.warning("payment %s: %s", payment.reference, detail)
    return PaymentResult(payment.reference, "conflict", None, detail + "; nothing changed, reconcile it by hand")


def _plan_in_force(session: Session, account_id: str) -> PlanRequest | None:
    """Return the account's request with an accepted agreement, the oldest first."""
    return session.scalar(
        select(PlanRequest)
        .join(Agreement, Agreement.request_id == PlanRequest.id)
        .where(PlanRequest.account_id == account_id, Agreement.status == "accepted", PlanRequest.status.not_in(["completed", "defaulted"]))
        .order_by(PlanRequest.id)
    )

