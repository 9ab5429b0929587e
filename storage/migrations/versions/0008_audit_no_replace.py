"""Reject SQLite inserts that would replace a stored audit event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``INSERT OR REPLACE`` (and ``REPLACE``) deletes the conflicting row without
firing delete triggers unless ``PRAGMA recursive_triggers`` is on, so it got
past ``audit_events_no_delete``. A BEFORE INSERT trigger runs before the
conflict is resolved and rejects any insert whose id or sequence is already
stored, whatever the connection's settings. PostgreSQL needs nothing: its
``INSERT ... ON CONFLICT DO UPDATE`` fires the UPDATE trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGER = """CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id OR sequence = NEW.sequence)
BEGIN SELECT RAISE(ABORT, 'audit events are append-only: an insert may not replace a stored audit event'); END"""


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_replace")
