"""The full audit chain of one plan request, as lines a person can read.

:func:`request_history` is the query behind ``payplan audit history`` and the
Slack ``/payplan history`` command: who requested, what the policy and the
summary agent said (with the policy and prompt versions), each revision, who
approved what and when, and what the customer accepted with the document hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import decode_event_row, raw_event_columns
from storage.models import AuditEvent


@dataclass(frozen=True)
class HistoryEntry:
    """One audit event of a request and its sentence."""

    event_id: int
    sequence: int
    occurred_at: datetime
    actor: str
    action: str
    revision: int | None
    text: str

    def line(self) -> str:
        """Return the entry as one line: sequence number as in the export, UTC time, revision and sentence.

        Line breaks inside recorded text, such as a multi-line comment, are
        shown as ⏎ so that every event stays on one line.
        """
        when = self.occurred_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        revision = f"rev {self.revision}" if self.revision is not None else "no rev"
        return show_line_breaks(f"#{self.sequence} {when} [{revision}] {self.text}")


def show_line_breaks(text: str) -> str:
    """Replace each line break that :meth:`str.splitlines` recognises, and CRLF as one, with ⏎."""
    return "⏎".join(text.splitlines())


def request_history(session: Session, request_id: int) -> list[HistoryEntry]:
    """Return the events of ``request_id``, oldest first, each with a readable sentence.

    Returns an empty list when the request has no events, for example when
    it does not exist. Raises :class:`storage.audit.UnreadableEventError`
    naming the event when a stored row cannot be parsed.
    """
    table = AuditEvent.__table__
    query = select(*raw_event_columns()).where(table.c.request_id == request_id).order_by(table.c.sequence)
    entries = []
    for raw in session.execute(query):
        audit_event = decode_event_row(raw)
        entries.append(HistoryEntry(
            event_id=audit_event.id,
            sequence=audit_event.sequence,
            occurred_at=audit_event.occurred_at,
            actor=audit_event.actor,
            action=audit_event.action,
            revision=audit_event.revision,
            text=describe_event(audit_event.actor, audit_event.action, audit_event.before, audit_event.after, audit_event.details),
        ))
    return entries


def describe_event(actor: str, action: str, before: dict[str, Any], after: dict[str, Any], details: dict[str, Any]) -> str:
    """Return a sentence for one event; actions without their own wording list their values."""
    describe = _DESCRIPTIONS.get(action)
    if describe is not None:
        return describe(actor, before, after)
    values = {**after, **details}
    listed = ", ".join(f"{key}={value}" for key, value in values.items())
    return f"{actor}: {action}" + (f" ({listed})" if listed else "")


def _created(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return (
        f"{actor} requested a plan for account {after.get('account_id')}: balance {after.get('balance')}, "
        f"down payment {after.get('down_payment')}, {after.get('installment_count')} installments "
        f"from {after.get('first_due_date')}, reason {after.get('reason_category')}"
    )


def _assessed(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    flags = ", ".join(after.get("flags") or []) or "none"
    route = " then ".join(after.get("route") or []) or "none"
    eligible = "eligible" if after.get("eligible") else "not eligible"
    prompt = after.get("prompt_version")
    prompt_text = f", prompt version {prompt}" if prompt is not None else ""
    return (
        f"policy {after.get('policy_version')} assessed the terms: {eligible}, risk grade {after.get('risk_grade')}, "
        f"flags {flags}, route {route}; summary by {after.get('summary_source')}{prompt_text}"
    )


def _ineligible(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"{actor} closed the request as ineligible"


def _pending_approval(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    route = " then ".join(after.get("route") or [])
    return f"{actor} sent the request for approval" + (f": {route}" if route else "")


def _step(verb: str) -> Callable[[str, dict[str, Any], dict[str, Any]], str]:
    def describe(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
        comment = after.get("comment")
        suffix = f": {comment}" if comment else ""
        return f"{actor} {verb} step {after.get('step')} ({after.get('tier')}){suffix}"

    return describe


def _step_pending(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"step {after.get('step')} ({after.get('tier')}) is now waiting for its approver"


def _step_superseded(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"step {after.get('step')} ({after.get('tier')}) was closed without a decision"


def _status(label: str) -> Callable[[str, dict[str, Any], dict[str, Any]], str]:
    def describe(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
        reason = after.get("reason")
        return f"{actor} {label}" + (f": {reason}" if reason else "")

    return describe


def _sent(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return (
        f"agreement {after.get('agreement_id')} sent to the customer, document hash {after.get('terms_hash')}, "
        f"link valid until {after.get('expires_at')}"
    )


def _accepted(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"the customer accepted the agreement with document hash {after.get('terms_hash')} from {after.get('ip') or 'an unknown address'}"


def _active(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"the plan became active with {after.get('installments')} installments"


def _account_status(actor: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"the account moved from {before.get('status')} to {after.get('status')}"


_DESCRIPTIONS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], str]] = {
    "request.created": _created,
    "status.assessed": _assessed,
    "status.ineligible": _ineligible,
    "status.pending_approval": _pending_approval,
    "step.approved": _step("approved"),
    "step.rejected": _step("rejected"),
    "step.pending": _step_pending,
    "step.superseded": _step_superseded,
    "status.approved": _status("approved the request: every step is signed"),
    "status.rejected": _status("rejected the request"),
    "status.sent_to_customer": _sent,
    "agreement.accepted": _accepted,
    "status.active": _active,
    "account.status_changed": _account_status,
}
