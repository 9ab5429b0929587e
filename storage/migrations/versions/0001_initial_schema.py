"""Create the initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Money columns are BigInteger cents and timestamps are DateTime without a time
zone, holding UTC. ``storage.types`` maps them to Decimal and aware datetimes.
The migration does not import that module, so it keeps describing this
revision's schema when the module changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("country_code", sa.String(length=16), nullable=True),
        sa.Column("paperless_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("settled_date", sa.Date(), nullable=True),
        sa.Column("paperless_bill", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_invoices_account_id_accounts"),
        sa.UniqueConstraint("invoice_number", name="uq_invoices_invoice_number"),
    )
    op.create_index("ix_invoices_account_id", "invoices", ["account_id"])

    op.create_table(
        "plan_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("reason_category", sa.String(length=32), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("current_revision", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_requests"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_plan_requests_account_id_accounts"),
        sa.UniqueConstraint("idempotency_key", name="uq_plan_requests_idempotency_key"),
    )
    op.create_index("ix_plan_requests_account_id", "plan_requests", ["account_id"])
    op.create_index("ix_plan_requests_status", "plan_requests", ["status"])

    op.create_table(
        "term_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("down_payment", sa.BigInteger(), nullable=False),
        sa.Column("installment_count", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("first_due_date", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_term_revisions"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["plan_requests.id"], name="fk_term_revisions_request_id_plan_requests"
        ),
        sa.UniqueConstraint("request_id", "number", name="uq_term_revisions_request_id_number"),
    )
    op.create_index("ix_term_revisions_request_id", "term_revisions", ["request_id"])

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("risk_grade", sa.String(length=1), nullable=False),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("risk_factors", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["term_revisions.id"], name="fk_assessments_revision_id_term_revisions"
        ),
        sa.UniqueConstraint("revision_id", name="uq_assessments_revision_id"),
    )

    op.create_table(
        "approval_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approval_steps"),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["term_revisions.id"], name="fk_approval_steps_revision_id_term_revisions"
        ),
        sa.UniqueConstraint("revision_id", "sequence", name="uq_approval_steps_revision_id_sequence"),
    )
    op.create_index("ix_approval_steps_revision_id", "approval_steps", ["revision_id"])

    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("accepted_ip", sa.String(length=64), nullable=True),
        sa.Column("accepted_user_agent", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agreements"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["plan_requests.id"], name="fk_agreements_request_id_plan_requests"
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["term_revisions.id"], name="fk_agreements_revision_id_term_revisions"
        ),
        sa.UniqueConstraint("revision_id", name="uq_agreements_revision_id"),
    )
    op.create_index("ix_agreements_request_id", "agreements", ["request_id"])

    op.create_table(
        "installments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_installments"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["plan_requests.id"], name="fk_installments_request_id_plan_requests"
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["term_revisions.id"], name="fk_installments_revision_id_term_revisions"
        ),
        sa.UniqueConstraint("request_id", "sequence", name="uq_installments_request_id_sequence"),
    )
    op.create_index("ix_installments_request_id", "installments", ["request_id"])

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("installment_id", sa.Integer(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_payments_account_id_accounts"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_payments_invoice_id_invoices"),
        sa.ForeignKeyConstraint(
            ["installment_id"], ["installments.id"], name="fk_payments_installment_id_installments"
        ),
        sa.UniqueConstraint("invoice_id", name="uq_payments_invoice_id"),
    )
    op.create_index("ix_payments_account_id", "payments", ["account_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["plan_requests.id"], name="fk_audit_events_request_id_plan_requests"
        ),
    )
    op.create_index("ix_audit_events_request_id", "audit_events", ["request_id"])


def downgrade() -> None:
    # Tables go in reverse order of creation so no foreign key is left
    # pointing at a dropped table. Dropping a table drops its indexes.
    for table in (
        "audit_events",
        "payments",
        "installments",
        "agreements",
        "approval_steps",
        "assessments",
        "term_revisions",
        "plan_requests",
        "invoices",
        "accounts",
    ):
        op.drop_table(table)
