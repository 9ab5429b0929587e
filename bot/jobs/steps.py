"""Queries over pending approval steps shared by the SLA, authority and digest jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ApprovalStep, AuditEvent, PlanRequest, StepDelegation, TermRevision


@dataclass
class PendingStep:
    step: ApprovalStep
    request: PlanRequest
    revision: TermRevision
    # When the step became pending, from the audit trail.
    since: datetime


def pending_steps(session: Session) -> list[PendingStep]:
    """Return every pending step of a current revision, oldest request first."""
    rows = session.execute(
        select(ApprovalStep, TermRevision, PlanRequest)
        .join(TermRevision, ApprovalStep.revision_id == TermRevision.id)
        .join(PlanRequest, TermRevision.request_id == PlanRequest.id)
        .where(ApprovalStep.status == "pending", TermRevision.number == PlanRequest.current_revision)
        .order_by(PlanRequest.id, ApprovalStep.sequence)
    ).all()
    return [PendingStep(step, request, revision, pending_since(session, request, revision, step)) for step, revision, request in rows]


def pending_since(session: Session, request: PlanRequest, revision: TermRevision, step: ApprovalStep) -> datetime:
    """Return when ``step`` became pending: its latest ``step.pending`` event, else when the revision was routed."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.request_id == request.id,
            AuditEvent.revision == revision.number,
            AuditEvent.action.in_(("step.pending", "status.pending_approval")),
        )
        .order_by(AuditEvent.id)
    ).all()
    opened = [event.occurred_at for event in events if event.action == "step.pending" and event.after.get("step") == step.sequence]
    if opened:
        return opened[-1]
    routed = [event.occurred_at for event in events if event.action == "status.pending_approval"]
    return routed[-1] if routed else revision.created_at


def step_approvers(session: Session, step: ApprovalStep, approvers: dict[str, list[str]]) -> list[str]:
    """Return who may decide ``step``: the tier's approvers and the step's delegates and backups."""
    delegated = session.scalars(select(StepDelegation.user_id).where(StepDelegation.step_id == step.id).order_by(StepDelegation.id)).all()
    return list(dict.fromkeys([*approvers.get(step.tier, []), *delegated]))


def step_delegations(session: Session, step: ApprovalStep, kind: str) -> list[StepDelegation]:
    return list(
        session.scalars(
            select(StepDelegation).where(StepDelegation.step_id == step.id, StepDelegation.kind == kind).order_by(StepDelegation.id)
        ).all()
    )
