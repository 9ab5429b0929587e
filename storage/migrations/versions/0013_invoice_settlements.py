"""Record which completed plan settled an invoice.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

A fully paid plan marks the invoices its agreement covers as settled on the
day it completed; ``invoice_settlements`` names the plan that paid each one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_settlements",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_settlements_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["request_id"], ["plan_requests.id"], name=op.f("fk_invoice_settlements_request_id_plan_requests")),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_settlements")),
    )
    op.create_index(op.f("ix_invoice_settlements_request_id"), "invoice_settlements", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_invoice_settlements_request_id"), table_name="invoice_settlements")
    op.drop_table("invoice_settlements")
