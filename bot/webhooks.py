"""Authentication of incoming webhooks from billing, payment and CRM systems.

A sender signs each call with a secret shared with payplan:

    X-Payplan-Timestamp: 1764892800                 (Unix seconds, UTC)
    X-Payplan-Delivery:  3f6c1a0e-...               (unique per call, at most 128 characters)
    X-Payplan-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{delivery}:" + body>

A call is rejected when a header is missing, the timestamp is more than
``MAX_CLOCK_SKEW`` away from now, or the signature does not match. A call
whose delivery id was already processed for the same endpoint is a replay
and is rejected too: :func:`claim_delivery` records the id in the same
transaction as the work the call does, so a call is acted on once at most.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import WebhookDelivery

TIMESTAMP_HEADER = "X-Payplan-Timestamp"
DELIVERY_HEADER = "X-Payplan-Delivery"
SIGNATURE_HEADER = "X-Payplan-Signature"
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_DELIVERY_ID_LENGTH = 128


class WebhookAuthError(Exception):
    """A webhook call that must not be processed, with the HTTP status of the response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def signature(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """Return the ``X-Payplan-Signature`` value for a call; senders and tests use it too."""
    message = f"v1:{timestamp}:{delivery_id}:".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, *, delivery_id: str, now: datetime) -> dict[str, str]:
    """Return the three headers a sender adds to a call made at ``now``."""
    timestamp = str(int(now.timestamp()))
    return {
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature(secret, timestamp, delivery_id, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: datetime) -> str:
    """Check a call's signature and timestamp; return its delivery id or raise WebhookAuthError.

    ``headers`` must look names up case-insensitively, as Starlette's do.
    """
    timestamp = headers.get(TIMESTAMP_HEADER)
    delivery_id = headers.get(DELIVERY_HEADER)
    received = headers.get(SIGNATURE_HEADER)
    missing = [name for name, value in ((TIMESTAMP_HEADER, timestamp), (DELIVERY_HEADER, delivery_id), (SIGNATURE_HEADER, received)) if not value]
    if missing:
        raise WebhookAuthError(401, f"missing header {', '.join(missing)}; sign every call as described in docs/webhooks.md")
    assert timestamp is not None
    assert delivery_id is not None
    assert received is not None

    if len(delivery_id) > MAX_DELIVERY_ID_LENGTH:
        raise WebhookAuthError(400, f"{DELIVERY_HEADER} is {len(delivery_id)} characters long; the maximum is {MAX_DELIVERY_ID_LENGTH}")
    # int() would also accept " 12", "+12" and "1_2"; the header is plain digits.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise WebhookAuthError(401, f"{TIMESTAMP_HEADER} {timestamp!r} is not Unix seconds")
    try:
        sent_at = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise WebhookAuthError(401, f"{TIMESTAMP_HEADER} {timestamp!r} is not Unix seconds") from None
    if abs(now - sent_at) > MAX_CLOCK_SKEW:
        raise WebhookAuthError(
            401,
            f"{TIMESTAMP_HEADER} {timestamp} is more than {int(MAX_CLOCK_SKEW.total_seconds())} seconds from the server's time; "
            "send the current time and check the sender's clock",
        )

    expected = signature(secret, timestamp, delivery_id, body)
    if not hmac.compare_digest(expected, received):
        raise WebhookAuthError(401, f"{SIGNATURE_HEADER} does not match the body; sign with the shared secret")
    return delivery_id


def claim_delivery(session: Session, *, source: str, delivery_id: str, now: datetime) -> None:
    """Record a delivery inside the caller's transaction, or raise WebhookAuthError(409) for a replay.

    Commit the caller's work in the same transaction: if it rolls back, the
    delivery id is free again and the sender's retry is processed. After a
    409 the session must be rolled back, because the failed insert may have
    ended its transaction.
    """
    already = session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.source == source, WebhookDelivery.delivery_id == delivery_id)
    )
    if already is None:
        try:
            session.add(WebhookDelivery(source=source, delivery_id=delivery_id, received_at=now))
            session.flush()
            return
        except IntegrityError:
            # Another call with the same id committed between the check and the insert.
            pass
    raise WebhookAuthError(409, f"delivery {delivery_id!r} was already processed; send each call with a new {DELIVERY_HEADER}")
