"""The audit trail: one append-only event per state change.

Importing this module also makes the ORM reject updates and deletes of
:class:`AuditEvent` rows at flush time. SQL statements run outside the ORM
unit of work, such as ``session.execute(update(AuditEvent))``, are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from storage.models import AuditEvent

class AuditEventChangeError(Exception):
    """Code tried to update or delete a stored audit event."""


JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def to_json_safe(value: Any) -> JsonValue:
    """Convert ``value`` to plain JSON types, recursively.

    Decimals become strings such as ``"125.50"`` so no digit is lost, dates
    and datetimes become ISO 8601 strings, enums become their values, tuples
    become lists, and dict keys must be strings. Raises ``TypeError`` for any
    other type, and ``ValueError`` for a NaN or infinite number, which JSON
    cannot represent.
    """
    # Enums first, because a str or int enum should be stored as its plain value.
    if isinstance(value, Enum):
        return to_json_safe(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} cannot be stored in JSON")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be stored in JSON")
        return str(value)
    # datetime is a subclass of date, and both print as ISO 8601.
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        converted: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__} {key!r}")
            converted[key] = to_json_safe(item)
        return converted
    if isinstance(value, (list, tuple)):
        return [to_json_safe(item) for item in value]
    raise TypeError(f"cannot convert {type(value).__name__} {value!r} to JSON")


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    request_id: int | None,
    revision: int | None,
    before: dict[str, Any],
    after: dict[str, Any],
) -> AuditEvent:
    """Add an audit event to ``session`` and return it.

    ``actor`` is a Slack user id, ``"customer"`` or ``"system:<job>"``.
    ``before`` and ``after`` go through :func:`to_json_safe`. The event is
    written with the caller's transaction, so it is saved only if the state
    change it describes is saved. Its ``id`` is set at the next flush.
    """
    if at.tzinfo is None:
        raise ValueError(f"audit time {at.isoformat()} has no time zone; pass an aware datetime")
    audit_event = AuditEvent(
        occurred_at=at,
        actor=actor,
        action=action,
        request_id=request_id,
        revision=revision,
        before=to_json_safe(before),
        after=to_json_safe(after),
    )
    session.add(audit_event)
    return audit_event


@event.listens_for(AuditEvent, "before_update")
def _reject_update(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be changed; audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _reject_delete(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be deleted; audit events are append-only")
