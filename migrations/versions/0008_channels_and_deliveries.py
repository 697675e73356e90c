"""Channels: deliveries by email and SMS beside in-app, residents' alert channels and quiet
hours, the estates' SMS delay.

`notification_deliveries` gains what an outside delivery needs (address, status, attempts,
error, held_until, sent_at, retry_at, claimed_at); the in-app rows already stored are `sent`
(stored and pushed) with sent_at = created_at. The new indexes cover email and SMS rows only
(partial on channel != 'in_app'), so in-app rows, most of the table, maintain none of them.

Revision ID: 0008_channels_and_deliveries
Revises: 0005
Create Date: 2026-12-04 21:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_channels_and_deliveries'
down_revision = '0007_sessions_and_accounts'
branch_labels = None
depends_on = None

OUTSIDE = sa.text("channel != 'in_app'")
HELD = sa.text("status = 'held'")


def upgrade() -> None:
    """Add the delivery columns and indexes, the preference tables and the SMS delay."""
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False,
                                      server_default='sent'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('held_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deliveries_due', ['status', 'retry_at'], unique=False,
                              sqlite_where=OUTSIDE, postgresql_where=OUTSIDE)
        batch_op.create_index('ix_deliveries_status_id', ['status', 'id'], unique=False,
                              sqlite_where=OUTSIDE, postgresql_where=OUTSIDE)
        batch_op.create_index('ix_deliveries_channel_status_id', ['channel', 'status', 'id'],
                              unique=False, sqlite_where=OUTSIDE, postgresql_where=OUTSIDE)
        batch_op.create_index('ix_deliveries_held', ['held_until'], unique=False,
                              sqlite_where=HELD, postgresql_where=HELD)
    op.execute("UPDATE notification_deliveries SET sent_at = created_at WHERE sent_at IS NULL")
    op.create_table(
        'channel_preferences',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('email', sa.Boolean(), nullable=False),
        sa.Column('sms', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'type'))
    op.create_table(
        'quiet_hours',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('start_minute', sa.Integer(), nullable=False),
        sa.Column('end_minute', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id'))
    with op.batch_alter_table('estates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_delay_minutes', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    """Back to revision 0005 (email and SMS deliveries are dropped with their columns)."""
    with op.batch_alter_table('estates', schema=None) as batch_op:
        batch_op.drop_column('sms_delay_minutes')
    op.drop_table('quiet_hours')
    op.drop_table('channel_preferences')
    op.execute("DELETE FROM notification_deliveries WHERE channel != 'in_app'")
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_held')
        batch_op.drop_index('ix_deliveries_channel_status_id')
        batch_op.drop_index('ix_deliveries_status_id')
        batch_op.drop_index('ix_deliveries_due')
        for name in ('claimed_at', 'retry_at', 'sent_at', 'held_until', 'error', 'attempts',
                     'status', 'address'):
            batch_op.drop_column(name)
