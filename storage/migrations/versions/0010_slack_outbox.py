"""Add the Slack outbox and the indexes of the account type-ahead.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_slack_outbox"),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name="fk_slack_outbox_request_id_plan_requests"),
        sa.ForeignKeyConstraint(["step_id"], ["approval_steps.id"], name="fk_slack_outbox_step_id_approval_steps"),
    )
    op.create_index("ix_slack_outbox_request_id", "slack_outbox", ["request_id"])
    op.create_index("ix_slack_outbox_status", "slack_outbox", ["status"])
    op.create_index("ix_accounts_lower_id", "accounts", [sa.text("lower(id)")])
    op.create_index("ix_accounts_lower_name", "accounts", [sa.text("lower(name)")])


def downgrade() -> None:
    op.drop_index("ix_accounts_lower_name", table_name="accounts")
    op.drop_index("ix_accounts_lower_id", table_name="accounts")
    op.drop_index("ix_slack_outbox_status", table_name="slack_outbox")
    op.drop_index("ix_slack_outbox_request_id", table_name="slack_outbox")
    op.drop_table("slack_outbox")
