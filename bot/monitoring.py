"""The daily plan monitoring sweep: late installments, late fees, notices, default and completion.

The installment is the unit, not the invoice. The conditions applied are
those stored in the accepted agreement's document, so a later policy change
never alters a plan the customer already signed. Each change is claimed with
a conditional UPDATE, so a second run, or a second replica, does nothing
twice. Every change is an audit event and a thread message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.agreement_terms import PlanConditions
from bot.messages import day, money, request_label
from bot.plan_ledger import OPEN_INSTALLMENT_STATUSES, ZERO, installments_in_force, late_after
from bot.workflow import move_status
from policy.config import Policy
from policy.lifecycle import Status
from storage.audit import record_event
from storage.models import Agreement, AgreementDocument, Installment, Invoice, InvoiceSettlement, PlanRequest, PlanState

logger = logging.getLogger(__name__)

ACTOR = "system:monitoring"


class PlanNotifier(Protocol):
    def post(self, request_id: int, text: str, *, notify_requester: bool = False) -> None: ...


@dataclass
class _Outcome:
    lines: list[str] = field(default_factory=list)
    # (request id, thread text, notify the account manager too)
    messages: list[tuple[int, str, bool]] = field(default_factory=list)


def run_plan_monitoring(session_factory: sessionmaker[Session], notifier: PlanNotifier | None, policy: Policy, now: datetime) -> list[str]:
    """Sweep every plan in force at ``now`` (aware UTC); return one line per change made.

    Dates are compared in UTC. ``policy`` supplies the currency for messages;
    the conditions come from each plan's agreement.
    """
    if now.tzinfo is None:
        raise ValueError(f"run_plan_monitoring needs an aware datetime, got {now.isoformat()}")
    with session_factory() as session:
        request_ids = list(
            session.scalars(
                select(PlanRequest.id)
                .join(Agreement, Agreement.request_id == PlanRequest.id)
                .where(Agreement.status == "accepted", PlanRequest.status.not_in([Status.COMPLETED.value, Status.DEFAULTED.value]))
                .order_by(PlanRequest.id)
            )
        )

    lines: list[str] = []
    for request_id in request_ids:
        outcome = _Outcome()
        with session_factory.begin() as session:
            _sweep_plan(session, request_id, now, policy.currency, outcome)
        lines.extend(outcome.lines)
        if notifier is not None:
            for message_request, text, notify_requester in outcome.messages:
                notifier.post(message_request, text, notify_requester=notify_requester)
    for line in lines:
        logger.info("plan monitoring: %s", line)
    return lines


def _sweep_plan(session: Session, request_id: int, now: datetime, currency: str, outcome: _Outcome) -> None:
    request = session.get(PlanRequest, request_id)
    assert request is not None
    agreement = session.scalar(select(Agreement).where(Agreement.request_id == request_id, Agreement.status == "accepted"))
    assert agreement is not None
    document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
    assert document is not None
    conditions = PlanConditions.from_dict(document.terms["conditions"])
    state = session.get(PlanState, request_id)
    if state is None:
        state = PlanState(request_id=request_id)
        session.add(state)
        session.flush()
    today = now.date()
    label = request_label(request_id)
    installments = installments_in_force(session, request_id)

    def event(action: str, before: dict, after: dict, line: str, text: str, notify_requester: bool = True) -> None:
        record_event(session, actor=ACTOR, action=action, at=now, request_id=request_id, revision=request.current_revision, before=before, after=after)
        outcome.lines.append(line)
        outcome.messages.append((request_id, text, notify_requester))

    # No installment is late before the plan is active (see late_after).
    started_on = agreement.accepted_at.date() if agreement.accepted_at else today
    for installment in installments:
        if installment.status != "scheduled" or installment.outstanding <= 0 or today <= late_after(installment, conditions.grace_days, started_on):
            continue
        claimed = session.execute(
            update(Installment)
            .where(Installment.id == installment.id, Installment.status == "scheduled")
            .values(status="late", late_on=today, late_fee=conditions.late_fee)
        )
        if claimed.rowcount != 1:
            continue
        session.refresh(installment)
        name = _name(installment)
        fee = f" A late fee of {money(conditions.late_fee, currency)} was added." if conditions.late_fee > 0 else ""
        event(
            "installment.late",
            {"installment": installment.sequence, "status": "scheduled"},
            {"installment": installment.sequence, "status": "late", "late_fee": str(conditions.late_fee), "outstanding": str(installment.outstanding)},
            f"{label}: {name} due {installment.due_date.isoformat()} is late; {installment.outstanding} outstanding",
            f":warning: {label}: {name}, due {day(installment.due_date)}, is unpaid after the {conditions.grace_days}-day grace period. "
            f"{money(installment.outstanding, currency)} is outstanding.{fee} Next step: contact the customer.",
        )

    late = [item for item in installments if item.status == "late"]
    if state.notice_sent_on is None and len(late) >= conditions.default_after_missed:
        cure_by = today + timedelta(days=conditions.cure_days)
        claimed = session.execute(
            update(PlanState).where(PlanState.request_id == request_id, PlanState.notice_sent_on.is_(None)).values(notice_sent_on=today, cure_by=cure_by)
        )
        if claimed.rowcount == 1:
            session.refresh(state)
            owed = sum((item.outstanding for item in late), start=ZERO)
            event(
                "plan.default_notice",
                {"notice": None},
                {"notice_sent_on": today.isoformat(), "cure_by": cure_by.isoformat(), "late_installments": len(late), "late_outstanding": str(owed)},
                f"{label}: notice of default sent; {len(late)} installments late, cure by {cure_by.isoformat()}",
                f":rotating_light: {label}: {len(late)} installments are late ({money(owed, currency)}). A notice of default applies: "
                f"the customer must pay them by {day(cure_by)}, or the plan defaults. Next step: send the customer the notice and agree how they will pay.",
            )
    elif state.notice_sent_on is not None and not late:
        before = {"notice_sent_on": state.notice_sent_on.isoformat(), "cure_by": state.cure_by.isoformat() if state.cure_by else None}
        state.notice_sent_on = None
        state.cure_by = None
        event("plan.cured", before, {"notice": None}, f"{label}: late installments paid; the plan continues",
              f":white_check_mark: {label}: the late installments were paid within the cure period. The plan continues.", notify_requester=False)
    # NOTE: while a renegotiation is pending approval the request is not
    # active, so default and completion wait until it is accepted or ends.
    elif state.cure_by is not None and today > state.cure_by and late and request.status == Status.ACTIVE:
        owed = sum((item.outstanding for item in installments if item.status in OPEN_INSTALLMENT_STATUSES), start=ZERO)
        move_status(session, request, Status.DEFAULTED, actor=ACTOR, now=now, details={"cure_by": state.cure_by.isoformat(), "outstanding": str(owed)})
        _set_account_status(session, request, "collections", now)
        event(
            "plan.defaulted",
            {"status": "active"},
            {"status": "defaulted", "outstanding": str(owed)},
            f"{label}: defaulted; {owed} outstanding, account back to collections",
            f":x: {label} defaulted: the late installments were not paid by {day(state.cure_by)}. {money(owed, currency)} is outstanding "
            "and the account is back in collections. Next step: collect the balance, or reinstate the plan with new terms and approval.",
        )
        return

    open_items = [item for item in installments if item.status in OPEN_INSTALLMENT_STATUSES]
    if installments and not open_items and request.status == Status.ACTIVE:
        move_status(session, request, Status.COMPLETED, actor=ACTOR, now=now, details={"credit": str(state.credit)})
        _settle_covered_invoices(session, request, document, today, now)
        _set_account_status(session, request, "current", now)
        credit = f" {money(state.credit, currency)} was paid beyond the plan and is kept as credit." if state.credit > 0 else ""
        event(
            "plan.completed",
            {"status": "active"},
            {"status": "completed", "credit": str(state.credit)},
            f"{label}: completed; every installment paid",
            f":tada: {label} is paid in full and completed.{credit}",
            notify_requester=False,
        )


def _name(installment: Installment) -> str:
    return "the down payment" if installment.sequence == 0 else f"installment {installment.sequence}"


def _settle_covered_invoices(session: Session, request: PlanRequest, document: AgreementDocument, today: date, now: datetime) -> None:
    """Mark the invoices the completed plan's agreement covers as settled today by the plan.

    Without this the paid invoices stayed open, so the balance still counted
    them and a new plan could be opened on the same debt.
    """
    numbers = [row["invoice_number"] for row in document.terms.get("invoices", [])]
    invoices = session.scalars(
        select(Invoice).where(Invoice.account_id == request.account_id, Invoice.invoice_number.in_(numbers), Invoice.settled_date.is_(None))
    ).all()
    for invoice in invoices:
        invoice.settled_date = today
        session.add(InvoiceSettlement(invoice_id=invoice.id, request_id=request.id, settled_on=today))
    if invoices:
        record_event(
            session, actor=ACTOR, action="invoices.settled_by_plan", at=now, request_id=request.id,
            revision=request.current_revision, before={"open_invoices": [invoice.invoice_number for invoice in invoices]},
            after={"settled_on": today.isoformat(), "settled_by_request": request.id},
        )


def _set_account_status(session: Session, request: PlanRequest, status: str, now: datetime) -> None:
    account = request.account
    before = account.status
    if before == status:
        return
    account.status = status
    record_event(
        session, actor=ACTOR, action="account.status_changed", at=now, request_id=request.id,
        revision=request.current_revision, before={"status": before}, after={"status": status},
    )
