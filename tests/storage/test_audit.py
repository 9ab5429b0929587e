"""Audit events and their JSON conversion."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import AuditEventChangeError, record_event, to_json_safe
from storage.models import AuditEvent

AT = datetime(2013, 3, 1, 14, 30, tzinfo=timezone.utc)


class Status(str, Enum):
    PENDING = "pending"


def test_to_json_safe_converts_nested_values() -> None:
    value = {
        "balance": Decimal("1250.50"),
        "as_of": date(2013, 3, 1),
        "at": AT,
        "status": Status.PENDING,
        "schedule": ({"due": date(2013, 4, 1), "amount": Decimal("100.00")},),
        "count": 3,
        "eligible": True,
        "note": None,
    }

    assert to_json_safe(value) == {
        "balance": "1250.50",
        "as_of": "2013-03-01",
        "at": "2013-03-01T14:30:00+00:00",
        "status": "pending",
        "schedule": [{"due": "2013-04-01", "amount": "100.00"}],
        "count": 3,
        "eligible": True,
        "note": None,
    }


def test_to_json_safe_enum_becomes_plain_string() -> None:
    converted = to_json_safe(Status.PENDING)

    assert type(converted) is str


@pytest.mark.parametrize("value", [{1: "a"}, {"a": object()}, {"a": {1, 2}}, b"bytes"])
def test_to_json_safe_unsupported_raises(value: object) -> None:
    with pytest.raises(TypeError):
        to_json_safe(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity")])
def test_to_json_safe_non_finite_raises(value: object) -> None:
    with pytest.raises(ValueError):
        to_json_safe(value)


@pytest.mark.parametrize("value", [0.5, 1.0, float("nan"), {"amount": 12.5}, [0.1]])
def test_to_json_safe_rejects_float(value: object) -> None:
    with pytest.raises(TypeError, match="pass a Decimal"):
        to_json_safe(value)


def test_record_event_stores_json_safe_values(session: Session) -> None:
    record_event(
        session,
        actor="U123",
        action="request.created",
        at=AT,
        request_id=None,
        revision=None,
        before={},
        after={"balance": Decimal("1250.50"), "as_of": date(2013, 3, 1)},
    )
    session.commit()
    session.expunge_all()

    stored = session.scalars(select(AuditEvent)).one()
    assert stored.id is not None
    assert stored.actor == "U123"
    assert stored.action == "request.created"
    assert stored.occurred_at == AT
    assert stored.before == {}
    assert stored.after == {"balance": "1250.50", "as_of": "2013-03-01"}


def test_record_event_naive_time_raises(session: Session) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        record_event(
            session,
            actor="U123",
            action="request.created",
            at=datetime(2013, 3, 1, 14, 30),
            request_id=None,
            revision=None,
            before={},
            after={},
        )


def add_event(session: Session) -> AuditEvent:
    audit_event = record_event(
        session, actor="U123", action="request.created", at=AT, request_id=None, revision=None, before={}, after={}
    )
    session.commit()
    return audit_event


def test_audit_event_update_rejected(session: Session) -> None:
    audit_event = add_event(session)
    audit_event.action = "request.approved"

    with pytest.raises(AuditEventChangeError, match="cannot be changed"):
        session.flush()


def test_audit_event_delete_rejected(session: Session) -> None:
    audit_event = add_event(session)
    session.delete(audit_event)

    with pytest.raises(AuditEventChangeError, match="cannot be deleted"):
        session.flush()
