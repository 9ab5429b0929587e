"""The ``/payplan`` subcommands that reply in text: status, list, history and help.

Each function returns mrkdwn for an ephemeral reply. User text read from the
database (account ids, comments, reasons) is escaped before it is shown.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.blocks import grade_text
from bot.errors import InvalidInput, NotFound
from bot.jobs.away import handle_away_command
from bot.messages import HELP, actor_mention, day, escape_mrkdwn, money, request_label, status_text
from bot.workflow import Workflow
from policy.lifecycle import OPEN_STATUSES, Status
from storage.history import request_history as audit_history
from storage.models import ApprovalStep, PlanRequest, TermRevision

REQUEST_ID_PATTERN = re.compile(r"(?:PP-?)?#?([0-9]{1,9})", re.IGNORECASE)
LIST_FILTERS = ("mine", "pending", "stalled")
LIST_LIMIT = 25
# A request pending approval with no change for this long is listed as stalled.
STALLED_AFTER = timedelta(days=2)
# Slack truncates message text after 40,000 characters; stop well before.
MAX_REPLY_CHARS = 35000


def run_command(workflow: Workflow, user_id: str, text: str) -> str:
    """Run a text subcommand and return its reply; unknown subcommands get the help."""
    words = text.split()
    name = words[0].lower() if words else "help"
    arguments = words[1:]
    if name == "away":
        return handle_away_command(workflow, user_id=user_id, text=text)
    try:
        if name == "status":
            return request_status(workflow, _one_id(name, arguments))
        if name == "history":
            return request_history(workflow, _one_id(name, arguments))
        if name == "list":
            choice = arguments[0].lower() if arguments else "mine"
            if choice not in LIST_FILTERS:
                raise InvalidInput(f"`{escape_mrkdwn(choice)}` is not a list filter. Use `/payplan list mine`, `pending` or `stalled`.")
            return list_requests(workflow, user_id, choice)
    except (InvalidInput, NotFound) as error:
        return f":warning: {error.user_message}"
    if name == "help":
        return HELP
    return f"`{escape_mrkdwn(name)}` is not a payplan command.\n{HELP}"


def parse_request_id(text: str) -> int:
    """Read a request id as users see it (``PP-00012``) or as a plain number (``12``)."""
    match = REQUEST_ID_PATTERN.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"`{escape_mrkdwn(text)}` is not a request id. Give it as shown in Slack, such as PP-00012, or as 12.")
    return int(match.group(1))


def _one_id(command: str, arguments: list[str]) -> int:
    if len(arguments) != 1:
        raise InvalidInput(f"`/payplan {command}` needs one request id, such as `/payplan {command} PP-00012`.")
    return parse_request_id(arguments[0])


def request_status(workflow: Workflow, request_id: int) -> str:
    with workflow.session_factory() as session:
        request = _load(session, request_id)
        revision = _current_revision(request)
        assessment = revision.assessment
        currency = workflow.policy.currency
        lines = [
            f"*{request_label(request.id)}* · {escape_mrkdwn(request.account_id)} · {status_text(request.status)}",
            f"Revision {revision.number}: balance {money(revision.balance, currency)}, {money(revision.down_payment, currency)} down, "
            f"{revision.installment_count} installments, {revision.frequency}, first due {day(revision.first_due_date)}",
            f"Requested by {actor_mention(request.requested_by)} on {day(request.as_of)}; last change {request.updated_at:%Y-%m-%d %H:%M} UTC",
        ]
        if assessment is not None:
            lines.append(f"Risk grade {grade_text(assessment)} · {'eligible' if assessment.eligible else 'not eligible'}")
        for step in revision.steps:
            tier = workflow.policy.tier(step.tier).label
            who = f" by {actor_mention(step.decided_by)}" if step.decided_by else ""
            lines.append(f"• Step {step.sequence}, {tier}: {step.status.replace('_', ' ')}{who}")
        if request.status == Status.WAITING_ON_REQUESTER:
            waits = workflow.waits_of(session, request.id)
            if waits and waits[-1].ended_at is None:
                lines.append(f"Waiting on {actor_mention(request.requested_by)} for: {escape_mrkdwn(waits[-1].missing)}")
        return "\n".join(lines)


def request_history(workflow: Workflow, request_id: int) -> str:
    """List every audit event of a request, oldest first, in the lines of ``payplan audit history``."""
    with workflow.session_factory() as session:
        _load(session, request_id)
        entries = audit_history(session, request_id)
    lines = [f"*History of {request_label(request_id)}* ({len(entries)} events, oldest first)"]
    lines.extend(escape_mrkdwn(entry.line()) for entry in entries)
    reply = "\n".join(lines)
    if len(reply) > MAX_REPLY_CHARS:
        cut = reply[:MAX_REPLY_CHARS].rsplit("\n", 1)[0]
        shown = cut.count("\n")
        reply = f"{cut}\n… {len(entries) - shown} later events are not shown; run `payplan audit history {request_id}` for the full trail."
    return reply


def list_requests(workflow: Workflow, user_id: str, choice: str) -> str:
    now = workflow.clock.now()
    with workflow.session_factory() as session:
        query = select(PlanRequest).order_by(PlanRequest.updated_at.desc()).limit(LIST_LIMIT)
        if choice == "mine":
            query = query.where(PlanRequest.requested_by == user_id, PlanRequest.status.in_(_open_values()))
            title = "Your open requests"
        elif choice == "pending":
            query = query.where(PlanRequest.status == Status.PENDING_APPROVAL)
            title = "Requests pending approval"
        else:
            query = query.where(PlanRequest.status == Status.PENDING_APPROVAL, PlanRequest.updated_at < now - STALLED_AFTER)
            title = f"Requests pending approval with no change for more than {STALLED_AFTER.days} days"
        requests = session.scalars(query).all()
        if not requests:
            return f"*{title}*: none."
        lines = [f"*{title}*"]
        for request in requests:
            lines.append(_list_line(workflow, session, request, user_id, now))
        return "\n".join(lines)


def awaiting_decision_of(workflow: Workflow, session: Session, user_id: str) -> list[tuple[PlanRequest, ApprovalStep]]:
    """Return the pending steps ``user_id`` may decide now, with their requests, oldest first."""
    tiers = [tier for tier, users in workflow.approvers.items() if user_id in users]
    if not tiers:
        return []
    rows = session.execute(
        select(PlanRequest, ApprovalStep)
        .join(TermRevision, TermRevision.request_id == PlanRequest.id)
        .join(ApprovalStep, ApprovalStep.revision_id == TermRevision.id)
        .where(
            TermRevision.number == PlanRequest.current_revision,
            ApprovalStep.status == "pending",
            ApprovalStep.tier.in_(tiers),
            PlanRequest.status == Status.PENDING_APPROVAL,
            PlanRequest.requested_by != user_id,
        )
        .order_by(PlanRequest.updated_at)
    ).all()
    return [(request, step) for request, step in rows if all(other.decided_by != user_id for other in step.revision.steps)]


def _list_line(workflow: Workflow, session: Session, request: PlanRequest, user_id: str, now: datetime) -> str:
    revision = _current_revision(request)
    pending = next((step for step in revision.steps if step.status == "pending"), None)
    waiting_on = f" · waiting on {workflow.policy.tier(pending.tier).label}" if pending else ""
    if pending and user_id in workflow.approvers.get(pending.tier, []) and user_id != request.requested_by:
        waiting_on += " (you)"
    idle = (now - request.updated_at).days
    return (
        f"• *{request_label(request.id)}* {escape_mrkdwn(request.account_id)} · {money(revision.balance, workflow.policy.currency)} · "
        f"{status_text(request.status)}{waiting_on} · {idle} days since last change"
    )


def _load(session: Session, request_id: int) -> PlanRequest:
    request = session.get(PlanRequest, request_id)
    if request is None:
        raise NotFound(f"{request_label(request_id)} was not found. Check the id with `/payplan list`.")
    return request


def _current_revision(request: PlanRequest) -> TermRevision:
    return next(rev for rev in request.revisions if rev.number == request.current_revision)


def _open_values() -> list[str]:
    return [status.value for status in OPEN_STATUSES | {Status.INELIGIBLE}]
