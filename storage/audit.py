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
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from types import SimpleNamespace
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, Text, event, func, select, type_coerce, update
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


JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


def to_json_safe(value: Any) -> JsonValue:
    """Convert ``value`` to plain JSON types, recursively.

    Decimals become strings such as ``"125.50"`` so no digit is lost, dates
    and datetimes become ISO 8601 strings, enums become their values, tuples
    become lists, and dict keys must be strings. Raises ``TypeError`` for a
    float, because a float's JSON text is not the same in every language
    that recomputes the hash and money must be a Decimal, and for any other
    type. Raises ``ValueError`` for a NaN or infinite Decimal, which JSON
    cannot represent.
    """
    # Enums first, because a str or int enum should be stored as its plain value.
    if isinstance(value, Enum):
        return to_json_safe(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise TypeError(f"float {value!r} cannot be stored in an audit event; pass a Decimal or a string")
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
    written as themselves. A lone surrogate (U+D800 to U+DFFF without its
    pair, which JSON escapes such as ``"\\ud800"`` can produce) is encoded
    as its three UTF-8-style bytes ("surrogatepass"), so every Python string
    has a hash; other text encodes as plain UTF-8.
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
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


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
        # The migration creates the row and nothing in payplan deletes it, so
        # a missing row means tampering, which must not be repaired silently.
        raise AuditChainError(
            f"the audit chain head row (audit_chain_head id {CHAIN_HEAD_ID}) is missing, so no audit event can be "
            "appended; it was deleted outside payplan: restore the database from a backup and report the tampering"
        )
    row = connection.execute(select(head.c.last_sequence, head.c.last_hash).where(head.c.id == CHAIN_HEAD_ID)).one()
    return row.last_sequence, row.last_hash


@event.listens_for(AuditEvent, "before_update")
def _reject_update(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be changed; audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _reject_delete(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditEventChangeError(f"audit event {target.id} cannot be deleted; audit events are append-only")


# Verification

ProblemKind = Literal[
    "content_changed", "row_deleted", "reordered", "previous_hash_mismatch", "not_in_chain_head", "chain_head_changed"
]


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


class UnreadableEventError(Exception):
    """A stored event has a column that cannot be read back, so the row was changed outside the application."""

    def __init__(self, event_id: int, column: str, reason: str) -> None:
        super().__init__(f"audit event {event_id} is unreadable: its {column} {reason}; run `payplan audit verify`")
        self.event_id = event_id
        self.column = column


@contextmanager
def read_snapshot(session: Session) -> Iterator[Connection]:
    """Open a connection of ``session``'s engine whose reads all see one committed state of the database.

    PostgreSQL runs a read-only REPEATABLE READ transaction. On SQLite the
    driver starts no transaction before a SELECT, so each statement would
    see its own state. An explicit BEGIN makes the reads one transaction.
    NOTE: in SQLite's default rollback-journal mode the open read transaction
    makes writers wait until it ends, up to their busy timeout.
    """
    engine = session.get_bind()
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            finally:
                connection.exec_driver_sql("ROLLBACK")
        return
    options = {"isolation_level": "REPEATABLE READ"}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def verify_chain(session: Session) -> ChainReport:
    """Check every stored event against the chain, in sequence order, and stop at the first problem.

    Detects a changed column: the recomputed hash differs, the id no longer
    equals the sequence, or a value cannot be read. Detects a deleted row: a
    gap in the sequence, or fewer events than the chain head counts. Also
    detects a reordered row, a broken link (the previous hash differs from
    the preceding event's hash), forged rows that the chain head does not
    count, and a missing or changed chain head. The chain head and the events are read in one
    snapshot, so events committed while this runs are not mistaken for
    forged rows. Reads only committed data, through its own connection.
    """
    with read_snapshot(session) as connection:
        head = connection.execute(
            select(AuditChainHead.__table__).where(AuditChainHead.__table__.c.id == CHAIN_HEAD_ID)
        ).one_or_none()
        head_problem = _check_head(head)
        if head_problem is not None:
            return ChainReport(0, GENESIS_HASH, head_problem)
        assert head is not None
        return _walk_chain(connection, head.last_sequence, head.last_hash)


def _check_head(head: Any) -> ChainProblem | None:
    if head is None:
        return ChainProblem(
            None,
            "chain_head_changed",
            f"the chain head row (audit_chain_head id {CHAIN_HEAD_ID}) is missing, so deleted events at the end of "
            "the chain cannot be detected; it was deleted outside the application",
        )
    if type(head.last_sequence) is not int or head.last_sequence < 0:
        return ChainProblem(
            None,
            "chain_head_changed",
            f"the chain head's last sequence {head.last_sequence!r} is not a whole number of events; "
            "it was changed outside the application",
        )
    return None


def _walk_chain(connection: Connection, head_sequence: int, head_hash: str) -> ChainReport:
    checked = 0
    previous_hash = GENESIS_HASH
    for raw in _rows_in_chain_order(connection):
        expected = checked + 1
        try:
            row = decode_event_row(raw)
        except UnreadableEventError as error:
            return ChainReport(checked, previous_hash, ChainProblem(raw.id, "content_changed", f"{error}; a column was changed"))
        problem = _check_row(row, expected, previous_hash, head_sequence)
        if problem is not None:
            return ChainReport(checked, previous_hash, problem)
        checked = row.sequence
        previous_hash = row.hash

    if checked == 0 and head_sequence > 0:
        return ChainReport(checked, previous_hash, ChainProblem(
            None,
            "row_deleted",
            f"no events are stored but the chain head counts {head_sequence}; every event was deleted",
        ))
    if checked < head_sequence:
        return ChainReport(checked, previous_hash, ChainProblem(
            None,
            "row_deleted",
            f"the chain head counts {head_sequence} events but the last stored event is sequence {checked}; "
            f"{_events_phrase(checked + 1, head_sequence)} deleted",
        ))
    if previous_hash != head_hash:
        return ChainReport(checked, previous_hash, ChainProblem(
            None,
            "content_changed",
            f"the last event's hash {previous_hash} differs from the chain head's {head_hash}; "
            "the last event or the chain head was changed",
        ))
    return ChainReport(checked, previous_hash, None)


def _events_phrase(first: int, last: int) -> str:
    """Return "event 4 was" or "events 4 to 6 were"."""
    return f"event {first} was" if first == last else f"events {first} to {last} were"


def _rows_in_chain_order(connection: Connection) -> Iterator[Any]:
    table = AuditEvent.__table__
    # Rows without an integer sequence come first, so a forged or changed row
    # is reported at that row instead of as a gap before the next one.
    # SQLite stores any value in an INTEGER column; PostgreSQL only integers.
    if connection.dialect.name == "sqlite":
        misplaced = func.coalesce(func.typeof(table.c.sequence) != "integer", True)
    else:
        misplaced = table.c.sequence.is_(None)
    query = select(*raw_event_columns()).order_by(misplaced.desc(), table.c.sequence, table.c.id)
    yield from connection.execute(query.execution_options(yield_per=1000))


def _check_row(row: Any, expected: int, previous_hash: str, head_sequence: int) -> ChainProblem | None:
    if row.sequence is None or row.hash is None or row.previous_hash is None:
        return ChainProblem(row.id, "content_changed", f"event {row.id} has no sequence or hash; it was not appended through the chain")
    if type(row.sequence) is not int:
        return ChainProblem(
            row.id, "content_changed", f"event {row.id} has sequence {row.sequence!r}, which is not a whole number; a column was changed"
        )
    if row.sequence < 1 or row.sequence > head_sequence:
        return ChainProblem(
            row.id,
            "not_in_chain_head",
            f"event {row.id} has sequence {row.sequence}, out of the chain head's range 1 to {head_sequence}; "
            "it was forged or renumbered outside the application",
        )
    if row.sequence > expected:
        return ChainProblem(
            row.id, "row_deleted", f"{_events_phrase(expected, row.sequence - 1)} deleted before event {row.id}"
        )
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


# Reading stored rows without trusting them

_RAW_COLUMNS = ("occurred_at", "before", "after", "details")


def raw_event_columns() -> list[Any]:
    """Return the event columns to select, with time and JSON columns as the driver returns them.

    A row changed outside the application may hold text that the ORM types
    would fail to parse in the middle of a query; :func:`decode_event_row`
    parses those columns one row at a time and names the bad one.
    """
    table = AuditEvent.__table__
    return [type_coerce(column, Text()) if column.name in _RAW_COLUMNS else column for column in table.columns]


def decode_event_row(raw: Any) -> SimpleNamespace:
    """Parse one row selected with :func:`raw_event_columns`; raise :class:`UnreadableEventError` naming a bad column."""
    values = dict(raw._mapping)
    values["occurred_at"] = _decode_time(raw.id, raw.occurred_at)
    for name in ("before", "after", "details"):
        values[name] = _decode_json(raw.id, name, values[name])
    return SimpleNamespace(**values)


def _decode_time(event_id: int, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise UnreadableEventError(event_id, "occurred_at", f"{value!r} is not a date and time") from None
    else:
        raise UnreadableEventError(event_id, "occurred_at", f"{value!r} is not a date and time")
    # Stored times are UTC without an offset, as storage.types.UTCDateTime writes them.
    return parsed.replace(tzinfo=timezone.utc)


def _decode_json(event_id: int, column: str, value: Any) -> Any:
    # SQLite returns JSON columns as text; psycopg parses them itself.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise UnreadableEventError(event_id, column, f"is not valid JSON ({error})") from None
    # record_event stores a JSON object in each of these columns.
    if not isinstance(value, dict):
        raise UnreadableEventError(event_id, column, f"{value!r} is not a JSON object")
    return value


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
    query = select(*raw_event_columns()).order_by(AuditEvent.__table__.c.sequence)
    if request_id is not None:
        query = query.where(AuditEvent.__table__.c.request_id == request_id)

    writer = csv.writer(output) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)
    count = 0
    for raw in session.execute(query.execution_options(yield_per=1000)):
        record = event_to_dict(decode_event_row(raw))
        if writer is not None:
            writer.writerow([_csv_cell(record[column]) for column in EXPORT_COLUMNS])
        else:
            output.write(jsonl_line(record))
        count += 1
    return count


# Characters that json.dumps writes unescaped when ensure_ascii is off but
# that break a text export: U+0085, U+2028 and U+2029 end a line for
# str.splitlines and JavaScript, and a lone surrogate cannot be written as
# UTF-8 at all.
_UNSAFE_IN_TEXT = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def escape_json_text(text: str) -> str:
    """Write the characters of ``_UNSAFE_IN_TEXT`` in JSON text ``text`` as ``\\uXXXX`` escapes.

    json.dumps emits these characters only inside string literals, where an
    escape means the same character, so a JSON parser reads the same value
    back and the hash is unaffected.
    """
    return _UNSAFE_IN_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def jsonl_line(record: dict[str, Any]) -> str:
    """Return ``record`` as one JSON Lines line, ending in a newline; see :func:`escape_json_text`."""
    return escape_json_text(json.dumps(record, sort_keys=True, ensure_ascii=False)) + "\n"


def event_to_dict(audit_event: Any) -> dict[str, Any]:
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
        return escape_json_text(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    if value is None:
        return ""
    return value
