"""The agreement expiry sweep: links that expired unanswered end their agreement.

An agreement sent to the customer and not answered by its link's expiry
becomes ``expired``. A first agreement moves the request to ``expired``,
from where the account manager can open new terms. The new agreement of a
renegotiated plan moves the request back to ``active``: the agreement in
force continues. Each change is claimed with a conditional UPDATE, recorded
as an audit event and posted to the thread, so a second run does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AlreadyDecided
from bot.messages import request_label
from bot.monitoring import PlanNotifier
from bot.plan_ledger import agreement_in_force
from bot.workflow import move_status
from policy.lifecycle import Status
from storage.audit import record_event
from storage.models import Agreement, PlanRequest

logger = logging.getLogger(__name__)

ACTOR = "system:agreement-expiry"


def run_agreement_expiry(session_factory: sessionmaker[Session], notifier: PlanNotifier | None, now: datetime) -> list[str]:
    """Expire every agreement whose link expired unanswered at ``now`` (aware UTC); return one line per agreement."""
    if now.tzinfo is None:
        raise ValueError(f"run_agreement_expiry needs an aware datetime, got {now.isoformat()}")
    with session_factory() as session:
        candidates = list(
            session.scalars(
                select(Agreement.id)
                .join(PlanRequest, PlanRequest.id == Agreement.request_id)
                .where(Agreement.status == "sent", Agreement.expires_at <= now, PlanRequest.status == Status.SENT_TO_CUSTOMER.value)
                .order_by(Agreement.id)
            )
        )
    lines: list[str] = []
    messages: list[tuple[int, str]] = []
    for agreement_id in candidates:
        try:
            with session_factory.begin() as session:
                outcome = expire_agreement(session, agreement_id, now)
        except AlreadyDecided:
            # The customer responded while this ran, so their decision is kept.
            logger.info("agreement %s was answered during the expiry sweep; left as it is", agreement_id)
            continue
        if outcome is not None:
            lines.append(outcome[1])
            messages.append((outcome[0], outcome[2]))
    if notifier is not None:
        for request_id, text in messages:
            notifier.post(request_id, text, notify_requester=True)
    for line in lines:
        logger.info("agreement expiry: %s", line)
    return lines


def expire_agreement(session: Session, agreement_id: int, now: datetime) -> tuple[int, str, str] | None:
    """Expire one unanswered agreement in ``session``; return (request id, line, thread text), or None if it was not due."""
    claimed = session.execute(
        update(Agreement).where(Agreement.id == agreement_id, Agreement.status == "sent", Agreement.expires_at <= now).values(status="expired")
    )
    if claimed.rowcount != 1:
        return None
    agreement = session.get(Agreement, agreement_id)
    assert agreement is not None
    request = session.get(PlanRequest, agreement.request_id)
    assert request is not None

    label = request_label(request.id)
    in_force = agreement_in_force(session, request.id)
    target = Status.ACTIVE if in_force is not None else Status.EXPIRED
    move_status(session, request, target, actor=ACTOR, now=now, details={"agreement_id": agreement.id, "expired_at": agreement.expires_at.isoformat()})
    record_event(
        session, actor=ACTOR, action="agreement.expired", at=now, request_id=request.id, revision=request.current_revision,
        before={"agreement_id": agreement.id, "status": "sent"},
        after={"agreement_id": agreement.id, "status": "expired", "expires_at": agreement.expires_at.isoformat()},
    )

    if in_force is not None:
        line = f"{label}: the new agreement expired unanswered; the agreement in force continues"
        text = (
            f":hourglass: The customer did not answer the new agreement for {label} before its link expired. "
            "The agreement in force continues. Next step: contact the customer, or open new terms with `payplan plans revise`."
        )
    else:
        line = f"{label}: the agreement expired unanswered; the request is expired"
        text = (
            f":hourglass: The customer did not answer the agreement for {label} before its link expired, so the request is expired. "
            "Next step: contact the customer and open new terms with `payplan plans revise` to send a new link."
        )
    return request.id, line, text
