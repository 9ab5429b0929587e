"""E-mail the customer their agreement link, with the agreement PDF attached, through a configured SMTP server."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr

from sqlalchemy import select

from bot.errors import InvalidInput, NotFound
from bot.messages import actor_mention, day, request_label
from bot.workflow import Workflow
from storage.audit import record_event
from storage.models import Agreement, AgreementDocument, PlanRequest

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False


def email_agreement_link(workflow: Workflow, smtp: SmtpSettings, *, request_id: int, to: str, actor: str) -> str:
    """Send the current agreement's link and PDF to ``to``; return the link. Recorded in the audit trail and the thread."""
    name, address = parseaddr(to)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise InvalidInput(f"{to!r} is not an e-mail address; give one such as ap@customer.example.")
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        if request is None:
            raise NotFound(f"Request {request_id} was not found.")
        revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
        agreement = session.scalar(select(Agreement).where(Agreement.revision_id == revision.id))
        if agreement is None or agreement.status != "sent":
            raise InvalidInput(f"{request_label(request_id)} has no agreement waiting for the customer; it is {request.status}.")
        document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
        assert document is not None
        url = workflow.agreement_url(agreement)
        label = request_label(request_id)
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = to
        message["Subject"] = f"Your payment plan agreement {label}"
        message.set_content(
            f"Hello,\n\nYour payment plan agreement {label} is ready. Read it and accept, decline or ask for changes here:\n\n"
            f"{url}\n\nThe link works until {day(agreement.expires_at.date())}. The agreement is attached as a PDF.\n\n"
            f"{workflow.agreement_profile.creditor_name}\n"
        )
        message.add_attachment(document.pdf, maintype="application", subtype="pdf", filename=f"payment-plan-{label}.pdf")

    with smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)

    with workflow.session_factory.begin() as session:
        request = session.get(PlanRequest, request_id)
        assert request is not None
        record_event(
            session, actor=actor, action="agreement.link_emailed", at=workflow.clock.now(), request_id=request_id,
            revision=request.current_revision, before={}, after={"agreement_id": agreement.id, "to": address},
        )
    logger.info("request %s agreement link e-mailed by %s", request_id, actor)
    if workflow.thread_notifier:
        workflow.thread_notifier.post(request_id, f":email: The agreement link for {label} was e-mailed to {address} by {actor_mention(actor)}.")
    return url
