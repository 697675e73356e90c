"""Outbound webhooks: endpoints, the messages owed to each, and every attempt.

Revision ID: 0009_webhooks
Revises: 0005
Create Date: 2026-12-04 21:41:39
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_webhooks'
down_revision = '0008_channels_and_deliveries'
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NOT_WALLET = "event != 'wallet.state_changed'"


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('secret_sealed', sa.String(length=200), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('failing_since', TIME, nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('paused_until', TIME, nullable=True),
        sa.Column('last_success_at', TIME, nullable=True),
        sa.Column('last_failure_at', TIME, nullable=True),
        sa.Column('disabled_at', TIME, nullable=True),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.Column('disable_count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'))
    op.create_table(
        'webhook_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=False),
        sa.Column('previous_state', sa.String(length=10), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('next_attempt_at', TIME, nullable=False),
        sa.Column('expires_at', TIME, nullable=False),
        sa.Column('lease_token', sa.String(length=32), nullable=True),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', TIME, nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('webhook_messages', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_messages_due', ['status', 'next_attempt_at'])
        batch_op.create_index('ix_webhook_messages_endpoint', ['endpoint_id', 'id'])
        batch_op.create_index('uq_webhook_messages_object', ['endpoint_id', 'event', 'object_id'],
                              unique=True, sqlite_where=sa.text(NOT_WALLET),
                              postgresql_where=sa.text(NOT_WALLET))
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', TIME, nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('resend', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['message_id'], ['webhook_messages.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_attempts_endpoint', ['endpoint_id', 'id'])
        batch_op.create_index('ix_webhook_attempts_message', ['message_id', 'id'])


def downgrade() -> None:
    """Back to revision 0005."""
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_messages')
    op.drop_table('webhook_endpoints')
