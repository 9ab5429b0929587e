"""``/payplan away FROM TO [delegate @user]``: record an approver's absence and delegate."""

from __future__ import annotations

import re
from datetime import date

from bot.workflow import Workflow
from storage.audit import record_event
from storage.models import Absence

USAGE = "Use `/payplan away FROM TO [delegate @user]` with dates as YYYY-MM-DD, for example `/payplan away 2026-12-21 2026-12-31 delegate @dana`."
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def handle_away_command(workflow: Workflow, *, user_id: str, text: str) -> str:
    """Record the absence described by ``text`` (the command text after ``/payplan``) and return the reply."""
    words = text.split()
    if not words or words[0].lower() != "away" or len(words) not in (3, 5):
        return USAGE
    try:
        starts_on, ends_on = date.fromisoformat(words[1]), date.fromisoformat(words[2])
    except ValueError:
        return f"{words[1]!r} or {words[2]!r} is not a date. {USAGE}"
    if ends_on < starts_on:
        return f"The absence ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()}). {USAGE}"
    if ends_on < workflow.today():
        return f"The absence ended on {ends_on.isoformat()}, before today. {USAGE}"
    delegate = None
    if len(words) == 5:
        match = MENTION.match(words[4])
        if words[3].lower() != "delegate" or match is None:
            return f"{' '.join(words[3:])!r} is not `delegate @user`. {USAGE}"
        delegate = match.group(1)
        if delegate == user_id:
            return "You cannot delegate to yourself. Name another approver."
    problem = _delegate_problem(workflow, user_id, delegate)
    if problem:
        return problem

    now = workflow.clock.now()
    with workflow.session_factory.begin() as session:
        session.add(Absence(user_id=user_id, starts_on=starts_on, ends_on=ends_on, delegate=delegate, created_at=now))
        record_event(session, actor=user_id, action="absence.recorded", at=now, request_id=None, revision=None, before={},
                     after={"user": user_id, "starts_on": starts_on, "ends_on": ends_on, "delegate": delegate})
    delegate_text = f" Your approvals go to <@{delegate}> meanwhile." if delegate else " Your approvals go to your tier's delegate meanwhile."
    return f"Recorded: you are away from {starts_on.isoformat()} to {ends_on.isoformat()}.{delegate_text}"


def _delegate_problem(workflow: Workflow, user_id: str, delegate: str | None) -> str | None:
    """Explain why ``user_id`` cannot record this absence, or return None when they can.

    A delegate must approve at ``user_id``'s lowest tier or a higher one, so an
    absence never hands approval authority to someone the configuration does
    not already trust with it.
    """
    ordered = [tier.name for tier in workflow.policy.tiers]
    ordered += [name for name in workflow.approvers if name not in ordered]
    own = [tier for tier in ordered if workflow._is_tier_approver(tier, user_id)]
    if not own:
        return f"You are not an approver of any tier, so you have no approvals to delegate. {USAGE}"
    eligible = ordered[ordered.index(own[0]):]
    if delegate is None or any(workflow._is_tier_approver(tier, delegate) for tier in eligible):
        return None
    return (
        f"<@{delegate}> is not an approver of {own[0]} or a higher tier, so they cannot take your approvals. "
        "Name one of those approvers, or leave out the delegate to use your tier's configured delegate."
    )
