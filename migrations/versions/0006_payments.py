"""Payments: a resident's top-up waits for the payment provider's signed confirmation.

A resident's Top up used to credit the wallet at once, with no payment at all. It is now a
`payments` row, pending until the provider's webhook says it succeeded (then one top-up
transaction credits it, named by `transaction_id`), failed, or it expires after 30 minutes.

Revision ID: 0006_payments
Revises: 0005
Create Date: 2026-12-04 22:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006_payments'
down_revision = '0005'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    """Create the payments table and its indexes."""
    op.create_table(
        'payments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('wallet_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('provider_ref', sa.String(length=100), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('idempotency_key', sa.String(length=100), nullable=True),
        sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
        sa.Column('transaction_id', sa.Integer(), nullable=True),
        sa.Column('webhook_id', sa.String(length=255), nullable=True),
        sa.Column('failure_reason', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], ),
        sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('transaction_id'),
        sa.UniqueConstraint('wallet_id', 'idempotency_key', name='uq_payments_idempotency'),
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_wallet_id', ['wallet_id', 'id'], unique=False)
        batch_op.create_index('ix_payments_pending_expiry', ['expires_at'], unique=False,
                              sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    """Back to revision 0005."""
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_pending_expiry')
        batch_op.drop_index('ix_payments_wallet_id')
    op.drop_table('payments')
