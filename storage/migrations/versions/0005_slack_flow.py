"""Add request notes, grade overrides, requester waits, thread files and longer step statuses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "changes_requested" is longer than the first schema's 16 characters.
    with op.batch_alter_table("approval_steps") as batch:
        batch.alter_column("status", type_=sa.String(length=32), existing_type=sa.String(length=16), existing_nullable=False)
    with op.batch_alter_table("plan_requests") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("grade_override", sa.String(length=1), nullable=True))
        batch.add_column(sa.Column("grade_override_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("grade_reviewed_by", sa.String(length=64), nullable=True))

    op.create_table(
        "requester_waits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_requester_waits"),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name="fk_requester_waits_request_id_plan_requests"),
    )
    op.create_index("ix_requester_waits_request_id", "requester_waits", ["request_id"])

    op.create_table(
        "request_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("slack_file_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shared_by", sa.String(length=64), nullable=False),
        sa.Column("shared_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_request_files"),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name="fk_request_files_request_id_plan_requests"),
        sa.UniqueConstraint("request_id", "slack_file_id", name="uq_request_files_request_id_slack_file_id"),
    )
    op.create_index("ix_request_files_request_id", "request_files", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_request_files_request_id", table_name="request_files")
    op.drop_table("request_files")
    op.drop_index("ix_requester_waits_request_id", table_name="requester_waits")
    op.drop_table("requester_waits")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("grade_reviewed_by")
        batch.drop_column("grade_override_reason")
        batch.drop_column("grade_override")
    with op.batch_alter_table("plan_requests") as batch:
        batch.drop_column("notes")
    with op.batch_alter_table("approval_steps") as batch:
        batch.alter_column("status", type_=sa.String(length=16), existing_type=sa.String(length=32), existing_nullable=False)
