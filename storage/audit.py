"""The audit trail: one append-only, hash-chained event per state change.

Importing this module makes the ORM chain every inserted :class:`AuditEvent`
(sequence number, previous hash, own hash) at flush time, and reject updates
and deletes of stored events. SQL statements run outside the ORM unit of work,
such as ``session.execute(update(AuditEvent))``, are not checked here. On
PostgreSQL and SQLite a trigger installed by the migrations rejects them, and
:func:`verify_chain` detects any change that gets past both.

docs/audit.md defines the hash so that an auditor can recompute it without
this code.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, event, select, update
from sqlalchemy.orm import Session

from storage.models import AuditChainHead, AuditEvent

# The previous hash of the first event in the chain.
GENESIS_HASH = "0" * 64
CHAIN_HEAD_ID = 1

ActorKind = Literal["slack_user", "customer", "system"]
ExportFormat = Literal["csv", "jsonl"]

class AuditEventChangeError(Exception):
    """Code tried to update or delete a stored audit event."""


class AuditChainError(Exception):
    """The audit chain cannot be appended to, for example because its head row is missing."""


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
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to ``session`` and return it.

    ``actor`` is a Slack user id, ``"customer"`` or ``"system:<job>"``.
    ``before``, ``after`` and ``details`` go through :func:`to_json_safe`.
    ``details`` holds context that is neither a before nor an after value,
    such as a reason or a policy version. The event is written with the
    caller's transaction, so it is saved only if the state change it
    describes is saved. Its ``id``, ``sequence`` and ``hash`` are set at the
    next flush, which also locks the chain head until the transaction ends.
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
        details=to_json_safe(details or {}),
    )
    session.add(audit_event)
    return audit_event


def actor_kind_of(actor: str) -> ActorKind:
    """Return the kind of ``actor``: a system job, the customer, or a Slack user."""
    if actor.startswith("system:"):
        return "system"
    if actor == "customer":
        return "customer"
    return "slack_user"


def format_event_time(at: datetime) -> str:
    """Format ``at`` in UTC with microseconds, as the hash covers it: ``2013-03-01T14:30:00.000000Z``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_event_json(
    *,
    sequence: int,
    occurred_at: datetime,
    actor: str,
    actor_kind: str,
    action: str,
    request_id: int | None,
    revision: int | None,
    before: Any,
    after: Any,
    details: Any,
    previous_hash: str,
) -> bytes:
    """Return the UTF-8 bytes that an event's hash covers.

    A JSON object with sorted keys, no spaces, and non-ASCII characters
    written as themselves.
    """
    content = {
        "sequence": sequence,
        "occurred_at": format_event_time(occurred_at),
        "actor": actor,
        "actor_kind": actor_kind,
        "action": action,
        "request_id": request_id,
        "revision": revision,
        "before": before,
        "after": after,
        "details": details,
        "previous_hash": previous_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compute_event_hash(row: Any) -> str:
    """Return the SHA-256 hex digest of an event's content and its stored previous hash.

    ``row`` is an :class:`AuditEvent` or any object or mapping row with the
    same attribute names.
    """
    canonical = canonical_event_json(
        sequence=row.sequence,
        occurred_at=row.occurred_at,
        actor=row.actor,
        actor_kind=row.actor_kind,
        action=row.action,
        request_id=row.request_id,
        revision=row.revision,
        before=row.before,
        after=row.after,
        details=row.details,
        previous_hash=row.previous_hash,
    )
    return hashlib.sha256(canonical).hexdigest()


@event.listens_for(AuditEvent, "before_insert")
def _chain_event(mapper: Any, connection: Connection, target: AuditEvent) -> None:
    """Give ``target`` the next place in the chain and its hash, just before it is inserted."""
    if target.occurred_at is None or target.occurred_at.tzinfo is None:
        # The UTCDateTime column rejects the row with a clear error when it
        # is bound, so the chain head is left alone.
        return
    target.actor_kind = actor_kind_of(target.actor)
    target.before = to_json_safe(target.before or {})
    target.after = to_json_safe(target.after or {})
    target.details = to_json_safe(target.details or {})

    sequence, previous_hash = _claim_next_sequence(connection)
    target.id = sequence
    target.sequence = sequence
    target.previous_hash = previous_hash
    target.hash = compute_event_hash(target)

    head = AuditChainHead.__table__
    connection.execute(update(head).where(head.c.id == CHAIN_HEAD_ID).values(last_hash=target.hash))


def _claim_next_sequence(connection: Connection) -> tuple[int, str]:
    """Lock the chain head, move it one place on, and return the new sequence and the previous hash.

    The UPDATE comes before the read: it takes the row lock on PostgreSQL and
    the write lock on SQLite, both held until the transaction ends, so a
    concurrent writer waits here and then reads the head this one leaves.
    """
    head = AuditChainHead.__table__
    moved = connection.execute(
        update(head).where(head.c.id == CHAIN_HEAD_ID).values(last_sequence=head.c.last_sequence + 1)
    )
    if moved.rowcount != 1:
        raise AuditChainError("the audit chain head row is missing; run `payplan db upgrade` to create it")
    row = connection.execute(select(head.c.last_sequence, head.c.last_hash).where(head.c.id == CHAIN_HEAD_ID)).one()
    return row.last_sequence, row.last_hash


@event.listens_for(AuditEvent, "before_update")
def _reject_update(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be changed; audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _reject_delete(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be deleted; audit events are append-only")


# Verification

ProblemKind = Literal["content_changed", "row_deleted", "reordered", "previous_hash_mismatch", "not_in_chain_head"]


@dataclass(frozen=True)
class ChainProblem:
    """The first place where the stored chain differs from what was appended."""

    event_id: int | None
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: events checked, the last good hash, and the first problem."""

    checked: int
    last_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(session: Session) -> ChainReport:
    """Check every stored event against the chain, in sequence order, and stop at the first problem.

    Detects a changed column (the recomputed hash differs, or the id no longer
    equals the sequence), a deleted row (a gap in the sequence, or fewer
    events than the chain head counts), a reordered row, a broken link (the
    previous hash differs from the preceding event's hash) and forged rows
    that the chain head does not count.
    """
    head = session.execute(
        select(AuditChainHead.last_sequence, AuditChainHead.last_hash).where(AuditChainHead.id == CHAIN_HEAD_ID)
    ).one_or_none()
    head_sequence = head.last_sequence if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH

    checked = 0
    previous_hash = GENESIS_HASH
    for row in _rows_in_chain_order(session):
        expected = checked + 1
        problem = _check_row(row, expected, previous_hash, head_sequence)
        if problem is not None:
            return ChainReport(checked, previous_hash, problem)
        checked = row.sequence
        previous_hash = row.hash

    if checked < head_sequence:
        return ChainReport(checked, previous_hash, ChainProblem(
            None,
            "row_deleted",
            f"the chain head counts {head_sequence} events but the last stored event is sequence {checked}; "
            f"events {checked + 1} to {head_sequence} were deleted",
        ))
    if previous_hash != head_hash:
        return ChainReport(checked, previous_hash, ChainProblem(
            None,
            "content_changed",
            f"the last event's hash {previous_hash} differs from the chain head's {head_hash}; "
            "the last event or the chain head was changed",
        ))
    return ChainReport(checked, previous_hash, None)


def _rows_in_chain_order(session: Session) -> Iterator[Any]:
    table = AuditEvent.__table__
    # Rows without a sequence come first on both databases, so a forged row
    # that skipped the chain is reported instead of being missed at the end.
    query = select(table).order_by(table.c.sequence.is_not(None), table.c.sequence, table.c.id)
    yield from session.execute(query.execution_options(yield_per=1000))


def _check_row(row: Any, expected: int, previous_hash: str, head_sequence: int) -> ChainProblem | None:
    if row.sequence is None or row.hash is None or row.previous_hash is None:
        return ChainProblem(row.id, "content_changed", f"event {row.id} has no sequence or hash; it was not appended through the chain")
    if row.sequence > head_sequence:
        return ChainProblem(
            row.id,
            "not_in_chain_head",
            f"event {row.id} has sequence {row.sequence} but the chain head counts only {head_sequence} events; "
            "it was inserted outside the application",
        )
    if row.sequence > expected:
        missing = str(expected) if row.sequence == expected + 1 else f"{expected} to {row.sequence - 1}"
        return ChainProblem(row.id, "row_deleted", f"events with sequence {missing} are missing before event {row.id}; rows were deleted")
    if row.id != row.sequence:
        return ChainProblem(
            row.id,
            "reordered",
            f"event {row.id} sits at sequence {row.sequence}; every event's id equals its sequence, "
            "so the row was moved or renumbered",
        )

    recomputed = compute_event_hash(row)
    if recomputed != row.hash:
        return ChainProblem(
            row.id,
            "content_changed",
            f"event {row.id}'s content does not match its hash (stored {row.hash}, recomputed {recomputed}); a column was changed",
        )
    if row.previous_hash != previous_hash:
        return ChainProblem(
            row.id,
            "previous_hash_mismatch",
            f"event {row.id} records previous hash {row.previous_hash} but the event before it has hash {previous_hash}; "
            "the earlier event was rewritten or this one was forged",
        )
    return None


# Export

EXPORT_COLUMNS = (
    "id",
    "sequence",
    "occurred_at",
    "actor",
    "actor_kind",
    "action",
    "request_id",
    "revision",
    "before",
    "after",
    "details",
    "previous_hash",
    "hash",
)


def export_events(session: Session, output: TextIO, *, request_id: int | None = None, fmt: ExportFormat = "jsonl") -> int:
    """Write the stored events, oldest first, to ``output`` as CSV or JSON Lines; return how many.

    With ``request_id`` only that request's events are written. Each row
    carries its sequence, previous hash and hash, so a reader can recompute
    every row's hash. CSV cells for before, after and details hold compact
    JSON.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"export format {fmt!r} is not one of csv, jsonl")
    query = select(AuditEvent).order_by(AuditEvent.sequence)
    if request_id is not None:
        query = query.where(AuditEvent.request_id == request_id)

    writer = csv.writer(output) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)
    count = 0
    for audit_event in session.scalars(query.execution_options(yield_per=1000)):
        record = event_to_dict(audit_event)
        if writer is not None:
            writer.writerow([_csv_cell(record[column]) for column in EXPORT_COLUMNS])
        else:
            output.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    return count


def event_to_dict(audit_event: AuditEvent) -> dict[str, Any]:
    """Return an event as JSON-ready values, its time in the format the hash covers."""
    return {
        "id": audit_event.id,
        "sequence": audit_event.sequence,
        "occurred_at": format_event_time(audit_event.occurred_at),
        "actor": audit_event.actor,
        "actor_kind": audit_event.actor_kind,
        "action": audit_event.action,
        "request_id": audit_event.request_id,
        "revision": audit_event.revision,
        "before": audit_event.before,
        "after": audit_event.after,
        "details": audit_event.details,
        "previous_hash": audit_event.previous_hash,
        "hash": audit_event.hash,
    }


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if value is None:
        return ""
    return value
