"""The App Home tab: what awaits the viewer's decision, their open requests and recent decisions."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.commands import awaiting_decision_of
from bot.messages import actor_mention, escape_mrkdwn, money, request_label, status_text
from bot.workflow import Workflow
from policy.lifecycle import OPEN_STATUSES, Status
from storage.models import ApprovalStep, PlanRequest, TermRevision

# Each list is one section, so ten lines of about 150 characters stay far
# below a section's 3,000 characters and the tab's 100 blocks.
HOME_LIST_LIMIT = 10
DECIDED_STATUSES = ("approved", "rejected", "changes_requested", "escalated")


def home_view(workflow: Workflow, user_id: str) -> View:
    """Build the App Home of ``user_id`` from the database."""
    currency = workflow.policy.currency
    with workflow.session_factory() as session:
        awaiting = [
            f"• *{request_label(request.id)}* {escape_mrkdwn(request.account_id)} · {money(_current(request).balance, currency)} · "
            f"{workflow.policy.tier(step.tier).label} step {step.sequence}"
            for request, step in awaiting_decision_of(workflow, session, user_id)[:HOME_LIST_LIMIT]
        ]
        mine = [
            f"• *{request_label(request.id)}* {escape_mrkdwn(request.account_id)} · {money(_current(request).balance, currency)} · {status_text(request.status)}"
            for request in _open_requests_of(session, user_id)
        ]
        decisions = [
            f"• *{request_label(request.id)}* {workflow.policy.tier(step.tier).label}: {step.status.replace('_', ' ')} by {actor_mention(step.decided_by)}"
            f" on {step.decided_at:%Y-%m-%d}"
            for request, step in _recent_decisions(session, user_id)
        ]
    blocks: list[SlackBlock] = [HeaderBlock(text="payplan")]
    for title, lines, empty in (
        ("Awaiting your decision", awaiting, "Nothing awaits your decision."),
        ("Your open requests", mine, "You have no open requests. Type `/payplan` to open one."),
        ("Recent decisions", decisions, "No decisions on your requests or by you yet."),
    ):
        blocks.append(SectionBlock(text=f"*{title}*\n" + ("\n".join(lines) if lines else f"_{empty}_")))
        blocks.append(DividerBlock())
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Refreshed whenever one of these lists changes. `/payplan help` lists the commands.")]))
    return View(type="home", blocks=blocks)


def home_viewers(workflow: Workflow, request_id: int) -> set[str]:
    """Return the users whose App Home shows ``request_id``: its requester, its approvers and its deciders."""
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        if request is None:
            return set()
        users = {request.requested_by}
        for revision in request.revisions:
            for step in revision.steps:
                users.update(workflow.approvers.get(step.tier, []))
                if step.decided_by:
                    users.add(step.decided_by)
    return {user for user in users if not user.startswith("system:")}


def _current(request: PlanRequest) -> TermRevision:
    return next(rev for rev in request.revisions if rev.number == request.current_revision)


def _open_requests_of(session: Session, user_id: str) -> list[PlanRequest]:
    statuses = [status.value for status in OPEN_STATUSES | {Status.INELIGIBLE}]
    query = (
        select(PlanRequest)
        .where(PlanRequest.requested_by == user_id, PlanRequest.status.in_(statuses))
        .order_by(PlanRequest.updated_at.desc())
        .limit(HOME_LIST_LIMIT)
    )
    return list(session.scalars(query))


def _recent_decisions(session: Session, user_id: str) -> list[tuple[PlanRequest, ApprovalStep]]:
    query = (
        select(PlanRequest, ApprovalStep)
        .join(TermRevision, TermRevision.request_id == PlanRequest.id)
        .join(ApprovalStep, ApprovalStep.revision_id == TermRevision.id)
        .where(
            ApprovalStep.status.in_(DECIDED_STATUSES),
            or_(ApprovalStep.decided_by == user_id, PlanRequest.requested_by == user_id),
        )
        .order_by(ApprovalStep.decided_at.desc(), ApprovalStep.id.desc())
        .limit(HOME_LIST_LIMIT)
    )
    return [(request, step) for request, step in session.execute(query).all()]
