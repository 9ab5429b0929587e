"""Slack messages that failed to send, kept in the database and sent again by a sweep.

The database is the truth: a request or decision is committed before
anything is posted, and a failed post or update must not lose it. When a
Slack call fails (rate limited, channel not found, bot not in the channel,
network error), the message goes to the ``slack_outbox`` table and the user
gets a direct message about it. ``deliver_outbox`` sends due messages in the order
they were queued, one request at a time, honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import request_label
from storage.models import ApprovalStep, PlanRequest, SlackOutboxMessage

logger = logging.getLogger(__name__)

# Retry delays after a failure without Retry-After: 30 s, 1 min, 2 min ... up to 1 hour.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600


@dataclass(frozen=True)
class SlackFailure:
    """One failed Slack call: Slack's error code (or ``network_error``) and the seconds Slack asked to wait."""

    error: str
    retry_after: int | None = None


def classify(error: Exception) -> SlackFailure:
    """Read the error code and Retry-After of a failed slack_sdk call."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = str(response.get("error") or f"http_{response.status_code}")
        retry_after = None
        headers = {name.lower(): value for name, value in (response.headers or {}).items()}
        raw = headers.get("retry-after")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if raw is not None and str(raw).strip().isdigit():
            retry_after = int(str(raw).strip())
        return SlackFailure(code, retry_after)
    return SlackFailure("network_error")


SLACK_SEND_ERRORS = (SlackClientError, OSError)


def explain_failure(failure: SlackFailure, channel: str, label: str) -> str:
    """Describe a failed post in words a Slack user can act on."""
    saved = f"{label} is saved, but payplan could not post it to <#{channel}>"
    if failure.error == "not_in_channel":
        return f"{saved} because the bot is not a member. Invite it with `/invite @payplan` in <#{channel}>; payplan posts the message then."
    if failure.error in ("channel_not_found", "is_archived"):
        return (
            f"{saved} because the channel was not found or is archived ({failure.error}). "
            "Ask an admin to set PAYPLAN_SLACK_CHANNEL to an open channel; payplan keeps retrying."
        )
    if failure.error == "ratelimited":
        wait = f" in {failure.retry_after} seconds" if failure.retry_after is not None else ""
        return f"{saved} yet because Slack is rate limiting the app. payplan posts it automatically{wait}."
    if failure.error == "network_error":
        return f"{saved} because Slack could not be reached. payplan retries automatically."
    return f"{saved}: Slack answered {failure.error}. payplan retries automatically; tell an admin if this persists."


def queue_message(
    session: Session,
    *,
    request_id: int,
    kind: str,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]],
    now: datetime,
    failure: SlackFailure | None,
    step_id: int | None = None,
) -> SlackOutboxMessage:
    """Add a message to the outbox; the caller commits."""
    message = SlackOutboxMessage(
        request_id=request_id,
        step_id=step_id,
        kind=kind,
        channel=channel,
        text=text,
        blocks=blocks,
        status="pending",
        attempts=1 if failure else 0,
        next_attempt_at=now + _retry_delay(failure, 1) if failure else now,
        last_error=failure.error if failure else None,
        created_at=now,
    )
    session.add(message)
    return message


def has_pending(session: Session, request_id: int) -> bool:
    """Tell whether the request has queued messages, which later messages must wait behind."""
    query = select(SlackOutboxMessage.id).where(SlackOutboxMessage.request_id == request_id, SlackOutboxMessage.status == "pending")
    return session.scalar(query.limit(1)) is not None


def deliver_outbox(session_factory: sessionmaker[Session], client: WebClient, now: datetime) -> list[str]:
    """Send the outbox messages due at ``now``, oldest first; return one line per message tried.

    A request's messages go out in order: after one fails, its later
    messages wait for the next sweep. A message that fails again is
    rescheduled after Retry-After or an exponential backoff.
    """
    lines: list[str] = []
    blocked: set[int] = set()
    with session_factory() as session:
        pending = session.scalars(
            select(SlackOutboxMessage).where(SlackOutboxMessage.status == "pending").order_by(SlackOutboxMessage.id)
        ).all()
        for message in pending:
            if message.request_id in blocked:
                continue
            if message.next_attempt_at > now:
                blocked.add(message.request_id)
                continue
            try:
                _send(session, client, message)
            except SLACK_SEND_ERRORS as error:
                failure = classify(error)
                message.attempts += 1
                message.last_error = failure.error
                message.next_attempt_at = now + _retry_delay(failure, message.attempts)
                blocked.add(message.request_id)
                logger.warning(
                    "outbox message %s of request %s failed again (%s, attempt %s); next try at %s",
                    message.id, message.request_id, failure.error, message.attempts, message.next_attempt_at.isoformat(),
                )
                lines.append(
                    f"{request_label(message.request_id)}: {message.kind} message not sent ({failure.error}); "
                    f"retrying at {message.next_attempt_at.isoformat()}"
                )
            else:
                message.status = "sent"
                message.sent_at = now
                logger.info("outbox message %s of request %s sent after %s failed attempts", message.id, message.request_id, message.attempts)
                lines.append(f"{request_label(message.request_id)}: {message.kind} message sent to {message.channel}")
            session.commit()
    return lines


def _send(session: Session, client: WebClient, message: SlackOutboxMessage) -> None:
    request = session.get(PlanRequest, message.request_id)
    assert request is not None
    step = session.get(ApprovalStep, message.step_id) if message.step_id is not None else None
    if message.kind == "root":
        response = client.chat_postMessage(channel=message.channel, text=message.text, blocks=message.blocks)
        request.slack_channel, request.slack_ts = response["channel"], response["ts"]
    elif message.kind in ("reply", "step"):
        response = client.chat_postMessage(
            channel=request.slack_channel or message.channel, thread_ts=request.slack_ts, text=message.text, blocks=message.blocks
        )
        if step is not None:
            step.slack_ts = response["ts"]
    elif message.kind == "update_root":
        client.chat_update(channel=request.slack_channel or message.channel, ts=request.slack_ts, text=message.text, blocks=message.blocks)
    elif message.kind == "update_step":
        assert step is not None
        client.chat_update(channel=request.slack_channel or message.channel, ts=step.slack_ts, text=message.text, blocks=message.blocks)
    else:
        raise ValueError(f"unknown outbox message kind {message.kind!r}")


def _retry_delay(failure: SlackFailure | None, attempts: int) -> timedelta:
    if failure is not None and failure.retry_after is not None:
        return timedelta(seconds=failure.retry_after)
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))
