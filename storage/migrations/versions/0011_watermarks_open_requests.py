"""Keep one sync watermark per object type, and allow one open request per account.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``sync_watermarks`` gets ``object_type`` in its primary key; each existing
source watermark is copied to accounts, invoices and payments, so the next
sync reads from where the previous one stopped. The partial unique index
``uq_plan_requests_open_account`` makes the database reject a second open
request for an account. The upgrade stops with a list of the accounts that
already have more than one open request; withdraw the extra ones first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OBJECT_TYPES = ("accounts", "invoices", "payments")
# policy.lifecycle.OPEN_STATUSES when this migration was written.
OPEN_STATUSES = (
    "approved",
    "assessed",
    "changes_requested",
    "pending_approval",
    "requested",
    "sent_to_customer",
    "waiting_on_requester",
)


def upgrade() -> None:
    connection = op.get_bind()
    old = sa.table(
        "sync_watermarks",
        sa.column("source", sa.String),
        sa.column("last_modified", sa.DateTime),
        sa.column("synced_at", sa.DateTime),
    )
    rows = connection.execute(sa.select(old.c.source, old.c.last_modified, old.c.synced_at)).all()
    op.drop_table("sync_watermarks")
    watermarks = op.create_table(
        "sync_watermarks",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "object_type", name=op.f("pk_sync_watermarks")),
    )
    if rows:
        op.bulk_insert(
            watermarks,
            [
                {"source": source, "object_type": kind, "last_modified": last_modified, "synced_at": synced_at}
                for source, last_modified, synced_at in rows
                for kind in OBJECT_TYPES
            ],
        )

    requests = sa.table("plan_requests", sa.column("account_id", sa.String), sa.column("status", sa.String))
    duplicated = connection.execute(
        sa.select(requests.c.account_id)
        .where(requests.c.status.in_(OPEN_STATUSES))
        .group_by(requests.c.account_id)
        .having(sa.func.count() > 1)
    ).scalars().all()
    if duplicated:
        raise RuntimeError(
            f"accounts with more than one open request: {', '.join(duplicated)}; "
            "withdraw all but one request of each account, then run the upgrade again"
        )
    condition = sa.text("status IN (" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")")
    op.create_index(
        "uq_plan_requests_open_account",
        "plan_requests",
        ["account_id"],
        unique=True,
        postgresql_where=condition,
        sqlite_where=condition,
    )


def downgrade() -> None:
    op.drop_index("uq_plan_requests_open_account", table_name="plan_requests")
    connection = op.get_bind()
    new = sa.table(
        "sync_watermarks",
        sa.column("source", sa.String),
        sa.column("last_modified", sa.DateTime),
        sa.column("synced_at", sa.DateTime),
    )
    # The earliest of a source's watermarks, so the old single watermark skips nothing.
    rows = connection.execute(
        sa.select(new.c.source, sa.func.min(new.c.last_modified), sa.func.max(new.c.synced_at)).group_by(new.c.source)
    ).all()
    op.drop_table("sync_watermarks")
    watermarks = op.create_table(
        "sync_watermarks",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_watermarks")),
    )
    if rows:
        op.bulk_insert(
            watermarks,
            [{"source": source, "last_modified": last_modified, "synced_at": synced_at} for source, last_modified, synced_at in rows],
        )
