"""Approval SLA: nudge the approvers of a slow step, then escalate it.

Each tier's thresholds are business hours (``PAYPLAN_SLA_HOURS``) counted
from when the step became pending. At the first threshold the approvers get
a direct message and the thread a reminder. At the second the step goes to
the tier's backup approvers (once) or to the next tier.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from bot.errors import InvalidInput
from bot.jobs.claims import claim
from bot.jobs.registry import JobContext
from bot.jobs.slack import mentions, post_in_thread, send_dm
from bot.jobs.steps import pending_steps, step_approvers, step_delegations
from bot.messages import request_label
from storage.audit import record_event
from storage.models import ApprovalStep, StepDelegation

logger = logging.getLogger(__name__)

ACTOR = "system:sla"


def sla_thresholds(context: JobContext, tier: str) -> tuple[timedelta, timedelta]:
    """Return the business time until the nudge and until the escalation for ``tier``."""
    hours = context.settings.sla_hours
    nudge, escalate = hours.get(tier) or hours.get("*") or (Decimal(8), Decimal(16))
    return timedelta(seconds=int(nudge * 3600)), timedelta(seconds=int(escalate * 3600))


def business_hours_text(elapsed: timedelta) -> str:
    hours = (Decimal(int(elapsed.total_seconds())) / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{hours} business hours"


def run_approval_sla(context: JobContext, now: datetime) -> list[str]:
    """Nudge or escalate every pending step past its thresholds at ``now``."""
    due: list[tuple[str, int, timedelta]] = []
    with context.session_factory() as session:
        for pending in pending_steps(session):
            nudge_after, escalate_after = sla_thresholds(context, pending.step.tier)
            elapsed = context.calendar.business_time_between(pending.since, now)
            if elapsed >= escalate_after:
                due.append(("escalate", pending.step.id, elapsed))
            elif elapsed >= nudge_after:
                due.append(("nudge", pending.step.id, elapsed))

    lines: list[str] = []
    for action, step_id, elapsed in due:
        if action == "nudge":
            lines.extend(_nudge(context, step_id, elapsed, now))
        else:
            lines.extend(_escalate(context, step_id, elapsed, now))
    return lines


def _nudge(context: JobContext, step_id: int, elapsed: timedelta, now: datetime) -> list[str]:
    with claim(context.session_factory, job="sla.nudge", item_key=f"step:{step_id}", occurrence="1", now=now) as session:
        if session is None:
            return []
        step = session.get(ApprovalStep, step_id)
        if step is None or step.status != "pending":
            session.rollback()
            return []
        request = step.revision.request
        label = request_label(request.id)
        tier_label = context.policy.tier(step.tier).label
        waited = business_hours_text(elapsed)
        _, escalate_after = sla_thresholds(context, step.tier)
        approvers = step_approvers(session, step, context.settings.approvers)
        for user in approvers:
            send_dm(context.slack, user, f"Reminder: {label} has waited {waited} for your decision as {tier_label}. Please approve or reject it in its thread.")
        post_in_thread(
            context.slack,
            request,
            f":alarm_clock: Reminder sent to {mentions(approvers)}: the {tier_label} approval has waited {waited}. "
            f"It escalates after {business_hours_text(escalate_after)}.",
        )
        record_event(session, actor=ACTOR, action="step.nudged", at=now, request_id=request.id, revision=request.current_revision,
                     before={}, after={"step": step.sequence, "tier": step.tier, "approvers": approvers, "waited_seconds": int(elapsed.total_seconds())})
        return [f"nudged {', '.join(approvers) or 'nobody'} on {label} step {step.sequence} ({tier_label}, {waited})"]


def _escalate(context: JobContext, step_id: int, elapsed: timedelta, now: datetime) -> list[str]:
    with claim(context.session_factory, job="sla.escalate", item_key=f"step:{step_id}", occurrence="1", now=now) as session:
        if session is None:
            return []
        step = session.get(ApprovalStep, step_id)
        if step is None or step.status != "pending":
            session.rollback()
            return []
        request = step.revision.request
        label = request_label(request.id)
        tier_label = context.policy.tier(step.tier).label
        reason = f"No decision within the {tier_label} SLA ({business_hours_text(elapsed)} pending)."
        backups = _usable_backups(session, context, step)
        try:
            if backups:
                outcome_line = _escalate_to_backups(session, context, step, backups, reason, now)
            else:
                context.workflow.escalate_in_session(session, actor=ACTOR, step_id=step.id, reason=reason)
                outcome_line = _describe_next_tier(session, context, step)
        except InvalidInput as error:
            post_in_thread(context.slack, request, f":rotating_light: {reason} {error.user_message} A manager needs to follow up.")
            record_event(session, actor=ACTOR, action="step.sla_breached", at=now, request_id=request.id, revision=request.current_revision,
                         before={}, after={"step": step.sequence, "tier": step.tier, "reason": reason})
            return [f"{label} step {step.sequence} breached its SLA at the highest tier; posted in the thread"]
        post_in_thread(context.slack, request, f":arrow_double_up: {reason} {outcome_line}")
        request_id = request.id
    if context.workflow.notifier:
        context.workflow.notifier.step_decided(request_id, step_id)
    return [f"escalated {label} step {step.sequence}: {outcome_line}"]


def _usable_backups(session: Session, context: JobContext, step: ApprovalStep) -> list[str]:
    """Return the tier's backup approvers unless the step already went to them.

    A backup step that breaches its SLA too goes to the next tier.
    """
    if step_delegations(session, step, "backup"):
        return []
    request = step.revision.request
    configured = context.settings.backup_approvers.get(step.tier, [])
    return [user for user in configured if user != request.requested_by and user not in context.settings.approvers.get(step.tier, [])]


def _escalate_to_backups(session: Session, context: JobContext, step: ApprovalStep, backups: list[str], reason: str, now: datetime) -> str:
    context.workflow.escalate_in_session(session, actor=ACTOR, step_id=step.id, reason=reason, same_tier=True)
    session.refresh(step.revision)
    # The escalation opens the new step right after the escalated one.
    new_step = next(s for s in step.revision.steps if s.sequence == step.sequence + 1)
    for user in backups:
        session.add(StepDelegation(step_id=new_step.id, user_id=user, on_behalf_of=context.settings.approvers.get(step.tier, []),
                                   kind="backup", reason=reason, created_at=now))
    tier_label = context.policy.tier(step.tier).label
    return f"The {tier_label} approval now goes to the backup approvers {mentions(backups)}."


def _describe_next_tier(session: Session, context: JobContext, step: ApprovalStep) -> str:
    session.refresh(step.revision)
    pending = [s for s in step.revision.steps if s.status == "pending"]
    if not pending:
        return "The request moved on."
    target = pending[0]
    approvers = step_approvers(session, target, context.settings.approvers)
    return f"It now goes to the {context.policy.tier(target.tier).label} tier: {mentions(approvers)}."
