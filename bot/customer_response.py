"""The customer's decision on an agreement: accept, decline, or ask for changes.

Each agreement takes one decision. The decision is stored with the evidence
of who made it (time, IP address, user agent, typed name, consent and the
terms hash), in the same transaction as the status change and its audit
event. Acceptance itself is :meth:`bot.workflow.Workflow.accept_agreement`;
this module contains the decline and change request, and the helpers both use.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.errors import AlreadyDecided, InvalidInput
from bot.messages import escape_mrkdwn, request_label
from bot.text_input import MESSAGE_WHITESPACE, clean_name, control_problem
from policy.lifecycle import Status
from storage.models import Agreement, AgreementDocument, AgreementResponse, PlanRequest, TermRevision

if TYPE_CHECKING:
    from bot.workflow import Workflow

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
MAX_MESSAGE_LENGTH = 3000

Refusal = Literal["declined", "changes_requested"]

DECIDED_MESSAGES = {
    "accepted": "You already accepted this agreement. Nothing more is needed.",
    "declined": "You declined this agreement. Your account manager will contact you.",
    "changes_requested": "You asked for changes to this agreement. Your account manager will send new terms.",
    "superseded": "This agreement was replaced by newer terms. Ask your account manager for the current link.",
}


def decided_message(status: str) -> str:
    return DECIDED_MESSAGES.get(status, "This agreement can no longer be answered. Ask your account manager for a new link.")


def check_signature(typed_name: str | None, consent: bool) -> str:
    """Return the typed full name, or raise InvalidInput naming each missing part of the signature."""
    name, problem = clean_name(typed_name or "")
    errors: dict[str, str] = {}
    if problem is not None:
        errors["typed_name"] = problem
    elif not name:
        errors["typed_name"] = "Type your full name to sign the agreement."
    elif len(name) > MAX_NAME_LENGTH:
        errors["typed_name"] = f"Your name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}."
    if not consent:
        errors["consent"] = "Tick the box to confirm that you agree to these terms."
    if errors:
        raise InvalidInput("The agreement was not accepted.", errors)
    return name


def load_agreement_rows(session: Session, agreement_id: int) -> tuple[Agreement, PlanRequest, TermRevision, AgreementDocument | None]:
    agreement = session.get(Agreement, agreement_id)
    assert agreement is not None, f"agreement {agreement_id} not found"
    request = session.get(PlanRequest, agreement.request_id)
    revision = session.get(TermRevision, agreement.revision_id)
    assert request is not None
    assert revision is not None
    document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
    return agreement, request, revision, document


def record_response(
    session: Session,
    agreement: Agreement,
    *,
    decision: str,
    typed_name: str | None,
    consent: bool,
    message: str | None,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Store the customer's decision and return the evidence for the audit event."""
    response = AgreementResponse(
        agreement_id=agreement.id,
        decision=decision,
        typed_name=typed_name,
        consent=consent,
        message=message,
        terms_hash=agreement.terms_hash,
        ip=ip,
        user_agent=(user_agent or "")[:512] or None,
        responded_at=now,
    )
    session.add(response)
    session.flush()
    return {
        "agreement_id": agreement.id,
        "terms_hash": agreement.terms_hash,
        "typed_name": typed_name,
        "consent": consent,
        "message": message,
        "ip": ip,
        "user_agent": user_agent,
        "responded_at": now,
    }


def refuse_agreement(workflow: Workflow, *, token: str, decision: Refusal, message: str, ip: str | None, user_agent: str | None) -> int:
    """Record a decline or a change request and tell the account manager in the thread; return the request id.

    A second submit of the same decision changes nothing. A decision on an
    agreement already decided otherwise raises AlreadyDecided.
    """
    terms = workflow.load_agreement(token)
    if terms.status == decision:
        return terms.request_id
    if terms.status != "sent":
        raise AlreadyDecided(decided_message(terms.status))
    text = message.strip()
    # The decline form's field is "reason", the change request's "message".
    field = "reason" if decision == "declined" else "message"
    if decision == "changes_requested" and not text:
        raise InvalidInput("The request for changes was not sent.", {field: "Write which terms you would like changed."})
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidInput("The message is too long.", {field: f"The message is {len(text)} characters long; the limit is {MAX_MESSAGE_LENGTH}."})
    problem = control_problem("The message", text, MESSAGE_WHITESPACE)
    if problem is not None:
        raise InvalidInput("The message was not sent.", {field: problem + "."})

    with workflow.session_factory.begin() as session:
        agreement, request, _, _ = load_agreement_rows(session, terms.agreement_id)
        now = workflow.clock.now()
        claimed = session.execute(update(Agreement).where(Agreement.id == agreement.id, Agreement.status == "sent").values(status=decision))
        if claimed.rowcount != 1:
            session.rollback()
            raise AlreadyDecided("This agreement was answered a moment ago. Reload the page to see the answer.")
        evidence = record_response(
            session, agreement, decision=decision, typed_name=None, consent=False, message=text or None, ip=ip, user_agent=user_agent, now=now
        )
        workflow._audit(session, "customer", f"agreement.{decision}", request, {"status": "sent"}, {"status": decision, **evidence})
        target = Status.DECLINED if decision == "declined" else Status.CHANGES_REQUESTED
        workflow._set_status(session, request, target, "customer", {"agreement_id": agreement.id, "message": text})
        request_id = request.id

    logger.info("request %s agreement %s: customer %s", request_id, terms.agreement_id, decision)
    if workflow.thread_notifier:
        workflow.thread_notifier.post(request_id, refusal_thread_text(request_id, decision, text), notify_requester=True)
    return request_id


def refusal_thread_text(request_id: int, decision: Refusal, message: str) -> str:
    quoted = f" Their message: “{escape_mrkdwn(message)}”" if message else " They gave no reason."
    if decision == "declined":
        return (
            f":x: The customer declined the agreement for {request_label(request_id)}.{quoted} "
            "Next step: contact the customer; to offer other terms, open a new revision with `payplan plans revise`."
        )
    return (
        f":pencil2: The customer asked for changes to the agreement for {request_label(request_id)}.{quoted} "
        "Next step: agree new terms with the customer and open a new revision with `payplan plans revise`; it goes through approval again."
    )
