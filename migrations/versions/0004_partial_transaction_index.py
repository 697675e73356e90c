"""Index notifications by transaction only where they have one.

Scan alerts (most notifications) carry no transaction; a full index gave each of them an
entry nobody looks up, one more B-tree to maintain per row in the scans' bulk inserts. The
sweep's join `transaction_id = transactions.id` implies NOT NULL, so the partial index
serves it on SQLite and PostgreSQL alike.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 05:15:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

HAS_TRANSACTION = sa.text("transaction_id IS NOT NULL")


def upgrade() -> None:
    """Replace the full index with a partial one."""
    op.drop_index('ix_notifications_transaction_id', table_name='notifications')
    op.create_index('ix_notifications_transaction_id', 'notifications', ['transaction_id'],
                    sqlite_where=HAS_TRANSACTION, postgresql_where=HAS_TRANSACTION)


def downgrade() -> None:
    """Back to the full index."""
    op.drop_index('ix_notifications_transaction_id', table_name='notifications')
    op.create_index('ix_notifications_transaction_id', 'notifications', ['transaction_id'])
