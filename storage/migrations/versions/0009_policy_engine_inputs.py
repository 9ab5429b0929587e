"""Add the policy engine's account inputs and the assessment's detail column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Accounts get a segment, a currency and a standing (open, closed,
bankruptcy, legal_hold, deceased); existing rows become open business
accounts in the policy's currency. Assessments get a JSON column for the
required documents, counter-proposal, alternatives and totals.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("segment", sa.String(length=16), server_default="business", nullable=False))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("standing", sa.String(length=16), server_default="open", nullable=False))
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("standing")
        batch.drop_column("currency")
        batch.drop_column("segment")
