"""Hash-chain the audit events and reject changes to them in the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Adds each event's sequence, actor kind, details, previous hash and hash, and
the one-row chain head that writers lock to append. Events that already exist
are chained in id order and renumbered so that each id equals its sequence.
Triggers then reject UPDATE and DELETE of audit events (and TRUNCATE on
PostgreSQL). The hash function is copied here, not imported, so this revision
keeps producing the hashes it defined when ``storage.audit`` changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
CHAIN_COLUMNS = ("sequence", "actor_kind", "details", "previous_hash", "hash")

POSTGRESQL_TRIGGERS = """
CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on audit_events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
"""

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE on audit_events is not allowed'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE on audit_events is not allowed'); END""",
)


def _actor_kind(actor: str) -> str:
    if actor.startswith("system:"):
        return "system"
    if actor == "customer":
        return "customer"
    return "slack_user"


def _event_hash(row: sa.Row, sequence: int, actor_kind: str, previous_hash: str) -> str:
    occurred_at: datetime = row.occurred_at
    content = {
        "sequence": sequence,
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": row.actor,
        "actor_kind": actor_kind,
        "action": row.action,
        "request_id": row.request_id,
        "revision": row.revision,
        "before": row.before,
        "after": row.after,
        "details": {},
        "previous_hash": previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("actor_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    last_sequence, last_hash = _chain_existing_events()

    with op.batch_alter_table("audit_events") as batch:
        for name in CHAIN_COLUMNS:
            batch.alter_column(name, existing_type=_column_type(name), nullable=False)
        batch.create_unique_constraint("uq_audit_events_sequence", ["sequence"])

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_sequence": last_sequence, "last_hash": last_hash}])

    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRESQL_TRIGGERS)
    elif op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def _column_type(name: str) -> sa.types.TypeEngine:
    return {
        "sequence": sa.Integer(),
        "actor_kind": sa.String(length=16),
        "details": sa.JSON(),
        "previous_hash": sa.String(length=64),
        "hash": sa.String(length=64),
    }[name]


def _chain_existing_events() -> tuple[int, str]:
    """Chain the events stored before this revision, oldest id first; return the head."""
    connection = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer()),
        sa.column("occurred_at", sa.DateTime()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("request_id", sa.Integer()),
        sa.column("revision", sa.Integer()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
        sa.column("sequence", sa.Integer()),
        sa.column("actor_kind", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("previous_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    rows = connection.execute(sa.select(events).order_by(events.c.id)).all()
    previous_hash = GENESIS_HASH
    for sequence, row in enumerate(rows, start=1):
        actor_kind = _actor_kind(row.actor)
        event_hash = _event_hash(row, sequence, actor_kind, previous_hash)
        # Ids only shrink (sequence <= id) and rows are visited in id order,
        # so the new id is never held by a row not yet renumbered.
        connection.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(
                id=sequence,
                sequence=sequence,
                actor_kind=actor_kind,
                details={},
                previous_hash=previous_hash,
                hash=event_hash,
            )
        )
        previous_hash = event_hash
    return len(rows), previous_hash


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_reject_change()")
    elif op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")

    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint("uq_audit_events_sequence", type_="unique")
        for name in reversed(CHAIN_COLUMNS):
            batch.drop_column(name)
