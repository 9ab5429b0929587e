"""Record every account summary run, and the Slack message that shows it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``summary_runs`` holds one row per generated summary (prompt, model, tokens,
latency, fallback, grounding, cost) for usage reports and the daily token
budget. ``assessments.summary_slack_ts`` lets the model's summary replace the
offline one in the request's thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("summary_slack_ts", sa.String(length=32), nullable=True))

    op.create_table(
        "summary_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("prompt_name", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("fallback_used", sa.Boolean(), nullable=False),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("grounding_checks", sa.Integer(), nullable=False),
        sa.Column("grounding_failures", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_summary_runs"),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name="fk_summary_runs_request_id_plan_requests"),
    )
    op.create_index("ix_summary_runs_request_id", "summary_runs", ["request_id"])
    op.create_index("ix_summary_runs_usage_date", "summary_runs", ["usage_date"])


def downgrade() -> None:
    op.drop_index("ix_summary_runs_usage_date", table_name="summary_runs")
    op.drop_index("ix_summary_runs_request_id", table_name="summary_runs")
    op.drop_table("summary_runs")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("summary_slack_ts")
