"""Customer reminders: installments due soon, sent only in the customer's contact hours and within a rolling limit.

Contact is allowed only when the local time is inside
``PAYPLAN_CUSTOMER_CONTACT_HOURS`` in every time zone of the customer's
contact profile (the team's time zone when the profile lists none). It is
also held once ``PAYPLAN_CUSTOMER_CONTACT_LIMIT`` reminders went to the
account in the last ``PAYPLAN_CUSTOMER_CONTACT_WINDOW_DAYS`` days. The defaults, 08:00 to
21:00 and 7 in 7 days, follow US Regulation F for consumer debts. A reminder
held back by either rule is tried again at the next sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.jobs.claims import claim
from bot.jobs.registry import JobContext
from bot.messages import money, request_label
from storage.audit import record_event
from storage.models import Account, CustomerContact, CustomerContactProfile, Installment, PlanRequest

ACTOR = "system:customer-reminders"


def run_customer_reminders(context: JobContext, now: datetime) -> list[str]:
    """Remind customers of installments due within ``PAYPLAN_CUSTOMER_REMINDER_DAYS``; no-op without a sender."""
    if context.customer_sender is None:
        return []
    today = context.calendar.local_date(now)
    horizon = today + timedelta(days=context.settings.customer_reminder_days)
    with context.session_factory() as session:
        due = session.execute(
            select(Installment.id, PlanRequest.account_id)
            .join(PlanRequest, Installment.request_id == PlanRequest.id)
            .where(PlanRequest.status == "active", Installment.status == "scheduled", Installment.due_date >= today, Installment.due_date <= horizon)
            .order_by(Installment.due_date, Installment.id)
        ).all()
        allowed = {account_id: inside_contact_hours(session, context, account_id, now) for _, account_id in due}

    lines = []
    for installment_id, account_id in due:
        if not allowed[account_id]:
            lines.append(f"held the reminder of installment {installment_id} for {account_id}: outside the customer's contact hours")
            continue
        lines.extend(_remind(context, installment_id, now))
    return lines


def inside_contact_hours(session: Session, context: JobContext, account_id: str, now: datetime) -> bool:
    profile = session.get(CustomerContactProfile, account_id)
    zones = (profile.timezones if profile else None) or [context.settings.timezone]
    start, end = context.settings.customer_contact_hours
    return all(start <= now.astimezone(ZoneInfo(zone)).time() < end for zone in zones)


def _remind(context: JobContext, installment_id: int, now: datetime) -> list[str]:
    with claim(context.session_factory, job="customer.reminder", item_key=f"installment:{installment_id}", occurrence="due", now=now) as session:
        if session is None:
            return []
        installment = session.get(Installment, installment_id)
        assert installment is not None
        request = session.get(PlanRequest, installment.request_id)
        assert request is not None
        # Locking the account row serializes replicas that remind the same customer, so the limit holds.
        session.scalar(select(Account).where(Account.id == request.account_id).with_for_update())
        window_start = now - timedelta(days=context.settings.customer_contact_window_days)
        recent = session.scalar(
            select(func.count()).select_from(CustomerContact).where(CustomerContact.account_id == request.account_id, CustomerContact.sent_at > window_start)
        ) or 0
        if recent >= context.settings.customer_contact_limit:
            session.rollback()
            return [f"held the reminder of installment {installment_id} for {request.account_id}: {recent} contacts in the last {context.settings.customer_contact_window_days} days"]
        amount = money(installment.amount, context.policy.currency)
        text = f"Reminder: installment {installment.sequence} of your payment plan, {amount}, is due on {installment.due_date.isoformat()}."
        assert context.customer_sender is not None
        context.customer_sender.send(account_id=request.account_id, text=text)
        session.add(CustomerContact(account_id=request.account_id, request_id=request.id, kind="installment_due", sent_at=now))
        record_event(session, actor=ACTOR, action="customer.reminder_sent", at=now, request_id=request.id, revision=request.current_revision,
                     before={}, after={"installment": installment.sequence, "due_date": installment.due_date, "amount": installment.amount})
        return [f"reminded customer {request.account_id} of {request_label(request.id)} installment {installment.sequence} due {installment.due_date.isoformat()}"]
