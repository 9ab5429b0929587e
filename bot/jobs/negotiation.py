"""Stalled negotiation: too many revision rounds, or too long waiting on changes, escalates."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.errors import InvalidInput
from bot.jobs.claims import claim
from bot.jobs.registry import JobContext
from bot.jobs.slack import mentions, post_in_thread
from bot.messages import request_label
from policy.lifecycle import Status
from storage.audit import record_event
from storage.models import PlanRequest

ACTOR = "system:negotiation"
# Statuses in which the request waits for the requester's new terms.
WAITING_STATUSES = (Status.CHANGES_REQUESTED, Status.WAITING_ON_REQUESTER)


def run_stalled_negotiation(context: JobContext, now: datetime) -> list[str]:
    """Escalate requests past ``PAYPLAN_MAX_REVISION_ROUNDS`` or waiting on changes for ``PAYPLAN_CHANGES_WAIT_DAYS``."""
    limit = context.settings.max_revision_rounds
    wait_since = now - timedelta(days=context.settings.changes_wait_days)
    due: list[tuple[int, str, str]] = []
    with context.session_factory() as session:
        open_requests = session.scalars(
            select(PlanRequest).where(PlanRequest.status.in_([status.value for status in (Status.PENDING_APPROVAL, *WAITING_STATUSES)]))
        ).all()
        for request in open_requests:
            if request.current_revision > limit:
                reason = f"Negotiation reached revision {request.current_revision}, above the limit of {limit} rounds."
                due.append((request.id, f"revision:{request.current_revision}", reason))
            elif request.status in WAITING_STATUSES and request.updated_at <= wait_since:
                days = (now - request.updated_at).days
                reason = f"Changes were requested {days} days ago and no new terms have arrived (limit {context.settings.changes_wait_days} days)."
                due.append((request.id, f"waiting:{request.updated_at.isoformat()}", reason))

    lines = []
    for request_id, occurrence, reason in due:
        lines.extend(_escalate(context, request_id, occurrence, reason, now))
    return lines


def _escalate(context: JobContext, request_id: int, occurrence: str, reason: str, now: datetime) -> list[str]:
    with claim(context.session_factory, job="negotiation.escalate", item_key=f"request:{request_id}", occurrence=occurrence, now=now) as session:
        if session is None:
            return []
        request = session.get(PlanRequest, request_id)
        assert request is not None
        label = request_label(request.id)
        revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
        pending = next((step for step in revision.steps if step.status == "pending"), None)
        if pending is not None:
            try:
                context.workflow.escalate_in_session(session, actor=ACTOR, step_id=pending.id, reason=reason)
                session.refresh(revision)
                target = next(step for step in revision.steps if step.status == "pending")
                outcome = f"It now goes to the {context.policy.tier(target.tier).label} tier: {mentions(context.settings.approvers.get(target.tier, []))}."
            except InvalidInput as error:
                outcome = error.user_message
        else:
            # With changes requested no step is open, so the thread message calls on the route's highest tier.
            top_tier = max(revision.steps, key=lambda step: step.sequence).tier if revision.steps else context.policy.tiers[-1].name
            outcome = f"{context.policy.tier(top_tier).label} approvers {mentions(context.settings.approvers.get(top_tier, []))}, please step in."
        record_event(session, actor=ACTOR, action="request.negotiation_stalled", at=now, request_id=request.id,
                     revision=request.current_revision, before={"status": request.status}, after={"reason": reason})
        post_in_thread(context.slack, request, f":hourglass: {reason} {outcome}")
        notify_step = pending.id if pending is not None else None
    if notify_step is not None and context.workflow.notifier:
        context.workflow.notifier.step_decided(request_id, notify_step)
    return [f"escalated stalled negotiation on {label}: {reason}"]
