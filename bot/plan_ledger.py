"""Installments of the plan in force, and how payments are applied to them.

The plan in force is the request's accepted agreement. When the customer
accepts a renegotiated plan's new agreement, it supersedes the old one, and
the old agreement's unpaid installments are marked superseded. Every payment is
split into explicit allocations, oldest unpaid installment first and its
late fee before its amount. What is left after the last installment is kept
as the plan's credit.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agreement_terms import ON_ACCEPTANCE, canonical_schedule, canonical_terms, hash_terms
from bot.agreement_document import extras_of
from storage.models import Agreement, AgreementDocument, Installment, Payment, PaymentAllocation, PlanRequest, PlanState, TermRevision

ZERO = Decimal("0.00")
OPEN_INSTALLMENT_STATUSES = ("scheduled", "late")


def create_installments(
    session: Session, request: PlanRequest, revision: TermRevision, document: AgreementDocument, accepted_on: date
) -> str:
    """Create the revision's installments and return the hash of the terms rebuilt from them.

    The down payment falls due on ``accepted_on``, the day the customer
    accepted. The installments are read back from the database, so the hash
    proves that what was stored is what was accepted.
    """
    assessment = revision.assessment
    assert assessment is not None
    for payment in canonical_schedule(assessment.schedule):
        session.add(
            Installment(
                request_id=request.id,
                revision_id=revision.id,
                sequence=int(payment["sequence"]),
                due_date=accepted_on if payment["due_date"] == ON_ACCEPTANCE else date.fromisoformat(payment["due_date"]),
                amount=Decimal(payment["amount"]),
                status="scheduled",
            )
        )
    session.flush()
    stored = session.scalars(select(Installment).where(Installment.revision_id == revision.id).order_by(Installment.sequence)).all()
    for installment in stored:
        session.refresh(installment)
    terms: dict[str, Any] = canonical_terms(request, revision, extras_of(document.terms))
    terms["schedule"] = [
        {
            "sequence": item.sequence,
            "due_date": ON_ACCEPTANCE if item.sequence == 0 and item.due_date == accepted_on else item.due_date.isoformat(),
            "amount": str(item.amount),
        }
        for item in stored
    ]
    if session.get(PlanState, request.id) is None:
        session.add(PlanState(request_id=request.id, credit=ZERO))
    return hash_terms(terms)


def supersede_previous_agreement(session: Session, request: PlanRequest, accepted: Agreement) -> int | None:
    """Mark the request's earlier accepted agreement and its unpaid installments superseded; return its id."""
    previous = session.scalar(
        select(Agreement).where(Agreement.request_id == request.id, Agreement.status == "accepted", Agreement.id != accepted.id)
    )
    if previous is None:
        return None
    # NOTE: the new revision's balance was fixed when it was opened. A payment
    # applied to the old installments after that is not deducted from the new
    # plan, so the account manager must adjust the terms by hand.
    previous.status = "superseded"
    for installment in session.scalars(
        select(Installment).where(Installment.revision_id == previous.revision_id, Installment.status.in_(OPEN_INSTALLMENT_STATUSES))
    ):
        installment.status = "superseded"
    state = session.get(PlanState, request.id)
    if state is not None:
        state.notice_sent_on = None
        state.cure_by = None
    return previous.id


def agreement_in_force(session: Session, request_id: int) -> Agreement | None:
    return session.scalar(select(Agreement).where(Agreement.request_id == request_id, Agreement.status == "accepted"))


def installments_in_force(session: Session, request_id: int) -> list[Installment]:
    agreement = agreement_in_force(session, request_id)
    if agreement is None:
        return []
    return list(
        session.scalars(select(Installment).where(Installment.revision_id == agreement.revision_id).order_by(Installment.sequence))
    )


def outstanding_balance(session: Session, request_id: int) -> Decimal:
    """Return what is still owed on the plan in force, late fees included."""
    return sum((item.outstanding for item in installments_in_force(session, request_id) if item.status != "superseded"), ZERO)


def late_after(installment: Installment, grace_days: int, started_on: date) -> date:
    """Return the last day ``installment`` can be paid on time.

    The grace period runs from the later of its due date and the day the
    plan started, so nothing is late before the plan is active.
    """
    return max(installment.due_date, started_on) + timedelta(days=grace_days)


def reverse_late_marks(session: Session, payment: Payment, request_id: int) -> list[Installment]:
    """Undo the lateness of the installments ``payment`` pays that it was made on time for; return them.

    A payment dated within an installment's due date plus grace that arrives
    after the sweep marked it late pays no late fee: the installment goes
    back to scheduled and the fee not yet paid is removed. Only installments
    the payment pays in full, oldest first, are reversed.
    """
    agreement = agreement_in_force(session, request_id)
    if agreement is None:
        return []
    document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
    grace_days = int(document.terms["conditions"]["grace_days"]) if document is not None else 0
    started_on = agreement.accepted_at.date() if agreement.accepted_at else payment.paid_on
    remaining = payment.amount
    reversed_items = []
    for installment in installments_in_force(session, request_id):
        if remaining <= 0:
            break
        if installment.status not in OPEN_INSTALLMENT_STATUSES:
            continue
        amount_due = installment.amount - installment.paid_amount
        on_time = payment.paid_on <= late_after(installment, grace_days, started_on)
        if installment.status == "late" and on_time and remaining >= amount_due:
            installment.status = "scheduled"
            installment.late_on = None
            installment.late_fee = installment.late_fee_paid
            reversed_items.append(installment)
            remaining -= amount_due
        else:
            remaining -= amount_due + installment.late_fee - installment.late_fee_paid
    session.flush()
    return reversed_items


def allocate(session: Session, payment: Payment, request_id: int) -> list[PaymentAllocation]:
    """Apply ``payment`` to the plan's oldest unpaid installments; keep any rest as credit."""
    remaining = payment.amount
    allocations: list[PaymentAllocation] = []
    for installment in installments_in_force(session, request_id):
        if remaining <= 0:
            break
        if installment.status not in OPEN_INSTALLMENT_STATUSES:
            continue
        fee_due = installment.late_fee - installment.late_fee_paid
        if fee_due > 0:
            part = min(fee_due, remaining)
            installment.late_fee_paid += part
            remaining -= part
            allocations.append(PaymentAllocation(payment_id=payment.id, request_id=request_id, installment_id=installment.id, kind="late_fee", amount=part))
        amount_due = installment.amount - installment.paid_amount
        if amount_due > 0 and remaining > 0:
            part = min(amount_due, remaining)
            installment.paid_amount += part
            remaining -= part
            allocations.append(PaymentAllocation(payment_id=payment.id, request_id=request_id, installment_id=installment.id, kind="installment", amount=part))
        if installment.outstanding == 0:
            installment.status = "paid"
            installment.paid_on = payment.paid_on
    if remaining > 0:
        state = session.get(PlanState, request_id)
        if state is None:
            state = PlanState(request_id=request_id, credit=ZERO)
            session.add(state)
        state.credit += remaining
        allocations.append(PaymentAllocation(payment_id=payment.id, request_id=request_id, installment_id=None, kind="credit", amount=remaining))
    session.add_all(allocations)
    session.flush()
    return allocations
