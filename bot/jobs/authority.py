"""Missing approval authority: a step whose approvers are all unavailable goes to a delegate at once.

The delegate is, in order: the delegate named in an approver's recorded
absence, the tier's delegates (``PAYPLAN_DELEGATES``), then the fallback
approvers (``PAYPLAN_FALLBACK_APPROVERS``). The requester and anyone who
decided another step of the revision are never chosen. The audit event names
the original approvers and the delegate.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.jobs.availability import Unavailable, check_availability
from bot.jobs.claims import claim
from bot.jobs.registry import JobContext
from bot.jobs.slack import mentions, post_in_thread
from bot.jobs.steps import pending_steps, step_delegations
from bot.messages import request_label
from storage.audit import record_event
from storage.models import ApprovalStep, StepDelegation

logger = logging.getLogger(__name__)

ACTOR = "system:authority"


def run_missing_authority(context: JobContext, now: datetime) -> list[str]:
    """Delegate every pending step that no configured approver can decide now."""
    today = context.calendar.local_date(now)
    due: list[tuple[int, list[str], list[Unavailable]]] = []
    with context.session_factory() as session:
        for pending in pending_steps(session):
            if step_delegations(session, pending.step, "delegate"):
                continue
            approvers = context.settings.approvers.get(pending.step.tier, [])
            backups = [d.user_id for d in step_delegations(session, pending.step, "backup")]
            people = approvers + backups
            absent = [
                found
                for user in people
                if (found := check_availability(session, context.slack, user, today=today, now=now, signals=context.settings.away_signals))
            ]
            if len(absent) == len(people):
                due.append((pending.step.id, people, absent))

    lines = []
    for step_id, people, absent in due:
        lines.extend(_delegate(context, step_id, people, absent, now))
    return lines


def _delegate(context: JobContext, step_id: int, people: list[str], absent: list[Unavailable], now: datetime) -> list[str]:
    with claim(context.session_factory, job="authority.delegate", item_key=f"step:{step_id}", occurrence="1", now=now) as session:
        if session is None:
            return []
        step = session.get(ApprovalStep, step_id)
        if step is None or step.status != "pending":
            session.rollback()
            return []
        request = step.revision.request
        label = request_label(request.id)
        tier_label = context.policy.tier(step.tier).label
        reason = "no approver is configured" if not people else "; ".join(f"<@{u.user_id}> is {u.reason}" for u in absent)
        excluded = {request.requested_by, *(s.decided_by for s in step.revision.steps if s.decided_by)}
        candidates = [u.delegate for u in absent if u.delegate] + context.settings.delegates.get(step.tier, []) + context.settings.fallback_approvers
        delegate = next((user for user in candidates if user not in excluded and user not in people), None)
        if delegate is None:
            post_in_thread(context.slack, request, f":warning: The {tier_label} approval cannot be decided: {reason}, and no delegate or fallback approver is configured.")
            record_event(session, actor=ACTOR, action="step.authority_missing", at=now, request_id=request.id, revision=request.current_revision,
                         before={"approvers": people}, after={"step": step.sequence, "tier": step.tier, "reason": reason})
            return [f"{label} step {step.sequence}: no available approver and no delegate ({reason})"]

        session.add(StepDelegation(step_id=step.id, user_id=delegate, on_behalf_of=people, kind="delegate", reason=reason, created_at=now))
        record_event(session, actor=ACTOR, action="step.delegated", at=now, request_id=request.id, revision=request.current_revision,
                     before={"step": step.sequence, "tier": step.tier, "approvers": people},
                     after={"step": step.sequence, "tier": step.tier, "delegate": delegate, "on_behalf_of": people, "reason": reason})
        post_in_thread(context.slack, request,
                       f":busts_in_silhouette: The {tier_label} approval goes to <@{delegate}> on behalf of {mentions(people)}, because {reason}. "
                       "The approval buttons above work for them.")
        return [f"delegated {label} step {step.sequence} to {delegate} ({reason})"]
