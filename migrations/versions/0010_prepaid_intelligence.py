"""Prepaid intelligence: friendly hours and the run-out forecast, credit_depleted, silent
meters and the operators' digest.

Estates get their friendly hours, time zone and meter silence limit, and a calendar of
spans (calendar_spans) the scans read the supply's end from; wallets get the credit_depleted
claim, when their state last changed, and the "cuts out soonest" sort key; meters a silence
flag; transactions an index by time for the digest, and the amount in the index the 30-day
spend is summed from.

Revision ID: 0010_prepaid_intelligence
Revises: 0009_webhooks
Create Date: 2026-12-07 13:03:56
"""
from alembic import op
import sqlalchemy as sa

revision = '0010_prepaid_intelligence'
down_revision = '0009_webhooks'
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
SILENT = sa.text('silent_since IS NOT NULL')


def upgrade() -> None:
    """Add the tables, columns and indexes. Every wallet's forecast starts unmade (NULL):
    beat's refresh_forecasts makes the sort keys, set-based in batches, and until then the
    scans sum the wallet's purchases themselves."""
    op.create_table(
        'calendar_spans',
        sa.Column('estate_id', sa.Integer(), nullable=False),
        sa.Column('ends_at', sa.BigInteger(), nullable=False),
        sa.Column('starts_at', sa.BigInteger(), nullable=False),
        sa.Column('utc_offset', sa.Integer(), nullable=False),
        sa.Column('day_near', sa.String(length=3), nullable=False),
        sa.Column('day_far', sa.String(length=10), nullable=False),
        sa.Column('supply_until', sa.BigInteger(), nullable=True),
        sa.Column('supply_near', sa.String(length=9), nullable=True),
        sa.Column('supply_far', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['estate_id'], ['estates.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('estate_id', 'ends_at'),
        sqlite_with_rowid=False)
    with op.batch_alter_table('estates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('friendly_hours', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
        batch_op.add_column(sa.Column('friendly_start', sa.Integer(), server_default='1080',
                                      nullable=False))
        batch_op.add_column(sa.Column('friendly_end', sa.Integer(), server_default='420',
                                      nullable=False))
        batch_op.add_column(sa.Column('friendly_weekends', sa.Boolean(),
                                      server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('friendly_holidays', sa.Boolean(),
                                      server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('meter_silent_hours', sa.Integer(), server_default='48',
                                      nullable=False))
        batch_op.add_column(sa.Column('calendar_until', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('digest_at', TIME, nullable=True))
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silent_since', TIME, nullable=True))
        batch_op.create_index('ix_meters_silent_unit', ['unit_id'], sqlite_where=SILENT,
                              postgresql_where=SILENT)
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_created_at', ['created_at'])
        # The 30-day spend read from the index alone (the amount added to it).
        batch_op.drop_index('ix_transactions_wallet_type_created')
        batch_op.create_index('ix_transactions_wallet_type_created',
                              ['wallet_id', 'type', 'created_at', 'amount'])
    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('depleted_seq', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('depleted_at', TIME, nullable=True))
        batch_op.add_column(sa.Column('state_since', TIME, nullable=True))
        batch_op.add_column(sa.Column('credit_seconds', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('forecast_expires_at', TIME, nullable=True))
        batch_op.create_index('ix_wallets_credit_seconds_id', ['credit_seconds', 'id'])
        batch_op.create_index('ix_wallets_forecast_expires', ['forecast_expires_at'])


def downgrade() -> None:
    """Drop what upgrade added."""
    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.drop_index('ix_wallets_forecast_expires')
        batch_op.drop_index('ix_wallets_credit_seconds_id')
        for column in ('forecast_expires_at', 'credit_seconds', 'state_since', 'depleted_at',
                       'depleted_seq'):
            batch_op.drop_column(column)
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_created_at')
        batch_op.drop_index('ix_transactions_wallet_type_created')
        batch_op.create_index('ix_transactions_wallet_type_created',
                              ['wallet_id', 'type', 'created_at'])
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_index('ix_meters_silent_unit', sqlite_where=SILENT,
                            postgresql_where=SILENT)
        batch_op.drop_column('silent_since')
    with op.batch_alter_table('estates', schema=None) as batch_op:
        for column in ('digest_at', 'calendar_until', 'meter_silent_hours', 'friendly_holidays',
                       'friendly_weekends', 'friendly_end', 'friendly_start', 'friendly_hours',
                       'timezone'):
            batch_op.drop_column(column)
    op.drop_table('calendar_spans')
