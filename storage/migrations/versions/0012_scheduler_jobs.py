"""Add the scheduler's job marks, absences, step delegations and customer contacts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("item_key", sa.String(length=128), nullable=False),
        sa.Column("occurrence", sa.String(length=64), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_marks"),
        sa.UniqueConstraint("job", "item_key", "occurrence", name="uq_job_marks_job_item_key_occurrence"),
    )
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("delegate", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_absences"),
    )
    op.create_index("ix_absences_user_id", "absences", ["user_id"])
    op.create_table(
        "step_delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("on_behalf_of", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_step_delegations"),
        sa.ForeignKeyConstraint(["step_id"], ["approval_steps.id"], name="fk_step_delegations_step_id_approval_steps"),
        sa.UniqueConstraint("step_id", "user_id", name="uq_step_delegations_step_id_user_id"),
    )
    op.create_index("ix_step_delegations_step_id", "step_delegations", ["step_id"])
    op.create_table(
        "customer_contact_profiles",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("timezones", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_customer_contact_profiles"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_customer_contact_profiles_account_id_accounts"),
    )
    op.create_table(
        "customer_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_contacts"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_customer_contacts_account_id_accounts"),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name="fk_customer_contacts_request_id_plan_requests"),
    )
    op.create_index("ix_customer_contacts_account_id", "customer_contacts", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_contacts_account_id", table_name="customer_contacts")
    op.drop_table("customer_contacts")
    op.drop_table("customer_contact_profiles")
    op.drop_index("ix_step_delegations_step_id", table_name="step_delegations")
    op.drop_table("step_delegations")
    op.drop_index("ix_absences_user_id", table_name="absences")
    op.drop_table("absences")
    op.drop_table("job_marks")
