"""Store agreement documents and responses, plan payments and monitoring state.

Installments become unique per revision, because a renegotiated plan keeps
the installments of the agreement it replaced.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('unmatched_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unmatched_payments')),
    sa.UniqueConstraint('reference', name=op.f('uq_unmatched_payments_reference'))
    )
    op.create_table('plan_states',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.Column('notice_sent_on', sa.Date(), nullable=True),
    sa.Column('cure_by', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['plan_requests.id'], name=op.f('fk_plan_states_request_id_plan_requests')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_plan_states'))
    )
    op.create_table('agreement_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('terms_hash', sa.String(length=64), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('slack_file_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_documents_agreement_id_agreements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_documents')),
    sa.UniqueConstraint('agreement_id', name=op.f('uq_agreement_documents_agreement_id'))
    )
    op.create_table('agreement_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=False),
    sa.Column('typed_name', sa.String(length=200), nullable=True),
    sa.Column('consent', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('terms_hash', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_responses_agreement_id_agreements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_responses')),
    sa.UniqueConstraint('agreement_id', name=op.f('uq_agreement_responses_agreement_id'))
    )
    op.create_table('payment_allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('installment_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['installment_id'], ['installments.id'], name=op.f('fk_payment_allocations_installment_id_installments')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_allocations_payment_id_payments')),
    sa.ForeignKeyConstraint(['request_id'], ['plan_requests.id'], name=op.f('fk_payment_allocations_request_id_plan_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_allocations'))
    )
    with op.batch_alter_table('payment_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_allocations_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_allocations_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=sa.String(length=32), existing_nullable=False)

    with op.batch_alter_table('installments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paid_amount', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('late_fee', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('late_fee_paid', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('late_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('paid_on', sa.Date(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_installments_request_id_sequence'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_installments_revision_id_sequence'), ['revision_id', 'sequence'])

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference', sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_reference'), ['reference'])



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_payments_reference'), type_='unique')
        batch_op.drop_column('reference')

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=32), type_=sa.String(length=16), existing_nullable=False)

    with op.batch_alter_table('installments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_installments_revision_id_sequence'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_installments_request_id_sequence'), ['request_id', 'sequence'])
        batch_op.drop_column('paid_on')
        batch_op.drop_column('late_on')
        batch_op.drop_column('late_fee_paid')
        batch_op.drop_column('late_fee')
        batch_op.drop_column('paid_amount')

    with op.batch_alter_table('payment_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_allocations_request_id'))
        batch_op.drop_index(batch_op.f('ix_payment_allocations_payment_id'))

    op.drop_table('payment_allocations')
    op.drop_table('agreement_responses')
    op.drop_table('agreement_documents')
    op.drop_table('plan_states')
    op.drop_table('unmatched_payments')
