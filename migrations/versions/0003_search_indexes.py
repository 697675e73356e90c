"""Indexes for wallet search (lower-case unit numbers and names) and state-by-balance pages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

EXPRESSION_INDEXES = {
    "ix_units_number_lower": ("units", "lower(number)"),
    "ix_people_first_lower": ("people", "lower(first_name)"),
    "ix_people_last_lower": ("people", "lower(last_name)"),
    "ix_people_full_lower": ("people", "lower(first_name || ' ' || last_name)"),
}


def upgrade() -> None:
    """Create the indexes."""
    op.create_index('ix_wallets_state_balance_id', 'wallets', ['state', 'balance', 'id'])
    for name, (table, expression) in EXPRESSION_INDEXES.items():
        op.create_index(name, table, [sa.text(expression)])


def downgrade() -> None:
    """Drop them."""
    for name, (table, _expression) in EXPRESSION_INDEXES.items():
        op.drop_index(name, table_name=table)
    op.drop_index('ix_wallets_state_balance_id', table_name='wallets')
