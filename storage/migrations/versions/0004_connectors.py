"""Mark each request's source, and store sync watermarks and the write-back queue.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plan_requests") as batch:
        batch.add_column(sa.Column("source", sa.String(length=32), server_default="slack", nullable=False))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=128), nullable=True))
        batch.create_unique_constraint(op.f("uq_payments_source_external_id"), ["source", "external_id"])

    op.create_table(
        "sync_watermarks",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_watermarks")),
    )
    op.create_table(
        "write_back_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("state_key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["plan_requests.id"], name=op.f("fk_write_back_tasks_request_id_plan_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_back_tasks")),
        sa.UniqueConstraint("request_id", "state_key", name=op.f("uq_write_back_tasks_request_id_state_key")),
    )
    op.create_index(op.f("ix_write_back_tasks_source"), "write_back_tasks", ["source"], unique=False)
    op.create_index(op.f("ix_write_back_tasks_status"), "write_back_tasks", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_write_back_tasks_status"), table_name="write_back_tasks")
    op.drop_index(op.f("ix_write_back_tasks_source"), table_name="write_back_tasks")
    op.drop_table("write_back_tasks")
    op.drop_table("sync_watermarks")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("uq_payments_source_external_id"), type_="unique")
        batch.drop_column("external_id")
    with op.batch_alter_table("plan_requests") as batch:
        batch.drop_column("source")
