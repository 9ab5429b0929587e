"""Signed webhook calls: signature, clock skew and replays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookAuthError,
    claim_delivery,
    signature,
    signed_headers,
    verify,
)
from storage.models import WebhookDelivery

SECRET = "shared-secret"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
BODY = b'{"account_id": "0379-NEVHP"}'


def test_verify_accepts_signed_call() -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)

    assert verify(SECRET, headers, BODY, now=NOW + timedelta(seconds=30)) == "d-1"


@pytest.mark.parametrize("header", [TIMESTAMP_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER])
def test_verify_rejects_missing_header(header: str) -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)
    del headers[header]

    with pytest.raises(WebhookAuthError) as caught:
        verify(SECRET, headers, BODY, now=NOW)

    assert caught.value.status == 401
    assert header in caught.value.message


def test_verify_rejects_changed_body() -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)

    with pytest.raises(WebhookAuthError) as caught:
        verify(SECRET, headers, BODY.replace(b"NEVHP", b"XXXXX"), now=NOW)

    assert caught.value.status == 401
    assert "does not match" in caught.value.message


def test_verify_rejects_other_secret() -> None:
    headers = signed_headers("another-secret", BODY, delivery_id="d-1", now=NOW)

    with pytest.raises(WebhookAuthError):
        verify(SECRET, headers, BODY, now=NOW)


def test_verify_rejects_delivery_id_swap() -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)
    headers[DELIVERY_HEADER] = "d-2"

    with pytest.raises(WebhookAuthError):
        verify(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize("offset", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_verify_rejects_stale_timestamp(offset: timedelta) -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)

    with pytest.raises(WebhookAuthError) as caught:
        verify(SECRET, headers, BODY, now=NOW + offset)

    assert "seconds from the server's time" in caught.value.message


def test_verify_rejects_non_numeric_timestamp() -> None:
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)
    headers[TIMESTAMP_HEADER] = "yesterday"

    with pytest.raises(WebhookAuthError) as caught:
        verify(SECRET, headers, BODY, now=NOW)

    assert "'yesterday'" in caught.value.message


@pytest.mark.parametrize("padding", [" ", "+", "0_"])
def test_verify_rejects_padded_timestamp(padding: str) -> None:
    timestamp = str(int(NOW.timestamp()))
    headers = signed_headers(SECRET, BODY, delivery_id="d-1", now=NOW)
    headers[TIMESTAMP_HEADER] = padding + timestamp
    headers[SIGNATURE_HEADER] = signature(SECRET, padding + timestamp, "d-1", BODY)

    with pytest.raises(WebhookAuthError) as caught:
        verify(SECRET, headers, BODY, now=NOW)

    assert "is not Unix seconds" in caught.value.message


def test_claim_delivery_rejects_replay(session: Session) -> None:
    claim_delivery(session, source="payments", delivery_id="d-1", now=NOW)
    session.commit()

    with pytest.raises(WebhookAuthError) as caught:
        claim_delivery(session, source="payments", delivery_id="d-1", now=NOW)

    assert caught.value.status == 409


def test_claim_delivery_separates_sources(session: Session) -> None:
    claim_delivery(session, source="payments", delivery_id="d-1", now=NOW)
    claim_delivery(session, source="requests", delivery_id="d-1", now=NOW)
    session.commit()

    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2


def test_claim_delivery_released_by_rollback(session: Session) -> None:
    claim_delivery(session, source="payments", delivery_id="d-1", now=NOW)
    session.rollback()

    claim_delivery(session, source="payments", delivery_id="d-1", now=NOW)
    session.commit()

    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
