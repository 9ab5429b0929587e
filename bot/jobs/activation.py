"""Activation delay: remind the account manager of an unaccepted agreement; expire old links.

An expired link moves the request to ``expired`` and posts a Resend button
in the thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.agreement_expiry import expire_agreement
from bot.jobs.claims import claim
from bot.jobs.registry import JobContext
from bot.jobs.slack import post_in_thread, send_dm
from bot.messages import request_label
from bot.plan_ledger import agreement_in_force
from policy.lifecycle import Status
from storage.audit import record_event
from storage.models import Agreement, PlanRequest

ACTOR = "system:activation"
RESEND_ACTION = "resend_agreement"


def run_agreement_activation(context: JobContext, now: datetime) -> list[str]:
    """Send reminders for agreements unaccepted after ``PAYPLAN_AGREEMENT_REMINDER_DAYS`` and expire old links."""
    remind_before = now - timedelta(days=context.settings.agreement_reminder_days)
    with context.session_factory() as session:
        sent = session.scalars(select(Agreement).where(Agreement.status == "sent").order_by(Agreement.id)).all()
        expired = [(a.id, a.expires_at) for a in sent if a.expires_at <= now]
        reminders = [(a.id, a.expires_at) for a in sent if a.expires_at > now and a.created_at <= remind_before]

    lines = []
    for agreement_id, expires_at in reminders:
        lines.extend(_remind(context, agreement_id, expires_at, now))
    for agreement_id, expires_at in expired:
        lines.extend(_expire(context, agreement_id, expires_at, now))
    return lines


def _remind(context: JobContext, agreement_id: int, expires_at: datetime, now: datetime) -> list[str]:
    # The link's expiry is part of the key, so a resent link gets its own reminder.
    with claim(context.session_factory, job="agreement.reminder", item_key=f"agreement:{agreement_id}",
               occurrence=expires_at.isoformat(), now=now) as session:
        if session is None:
            return []
        agreement = session.get(Agreement, agreement_id)
        assert agreement is not None
        request = session.get(PlanRequest, agreement.request_id)
        assert request is not None
        label = request_label(request.id)
        days = (now - agreement.created_at).days
        expiry = expires_at.astimezone(context.calendar.zone).strftime("%Y-%m-%d %H:%M %Z")
        text = f"The customer has not accepted the agreement for {label} after {days} days. The link expires {expiry}; follow up with them."
        send_dm(context.slack, request.requested_by, text)
        post_in_thread(context.slack, request, f":envelope: {text}")
        record_event(session, actor=ACTOR, action="agreement.reminder_sent", at=now, request_id=request.id,
                     revision=request.current_revision, before={}, after={"agreement_id": agreement.id, "to": request.requested_by})
        return [f"reminded {request.requested_by} about the unaccepted agreement of {label} ({days} days)"]


def _expire(context: JobContext, agreement_id: int, expires_at: datetime, now: datetime) -> list[str]:
    with claim(context.session_factory, job="agreement.expired", item_key=f"agreement:{agreement_id}",
               occurrence=expires_at.isoformat(), now=now) as session:
        if session is None:
            return []
        agreement = session.get(Agreement, agreement_id)
        assert agreement is not None
        request = session.get(PlanRequest, agreement.request_id)
        assert request is not None
        if agreement.status != "sent" or request.status != Status.SENT_TO_CUSTOMER.value:
            session.rollback()
            return []
        label = request_label(request.id)
        if agreement_in_force(session, request.id) is not None:
            # New terms for an active plan expired: the agreement in force
            # continues and the request goes back to active, with no resend.
            outcome = expire_agreement(session, agreement_id, now)
            if outcome is None:
                session.rollback()
                return []
            _, line, text = outcome
            post_in_thread(context.slack, request, text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
            return [line]
        agreement.status = "expired"
        context.workflow._set_status(session, request, Status.EXPIRED, ACTOR, {"agreement_id": agreement.id, "expired_at": expires_at})
        text = f"The agreement link for {label} expired unaccepted, so the request is now expired."
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":hourglass_flowing_sand: {text}"}},
            {"type": "actions", "elements": [{"type": "button", "action_id": RESEND_ACTION, "value": str(agreement.id),
                                              "text": {"type": "plain_text", "text": "Resend link"}}]},
        ]
        post_in_thread(context.slack, request, text, blocks)
        return [f"expired the agreement link of {label} and offered a resend"]
