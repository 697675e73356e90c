"""Sign-in sessions kept on the server, so signing out ends every copy of a cookie.

`user_sessions` holds one row per sign-in: the SHA-256 of the random token the session
cookie carries, when it began and was last used, and when and why it ended (signed out,
password changed, account disabled, sessions revoked, idle or too old). Sessions that
existed before this revision carried no token: they simply stop working, and their users
sign in again.

Revision ID: 0007_sessions_and_accounts
Revises: 0005
Create Date: 2026-12-10 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_sessions_and_accounts'
down_revision = '0006_payments'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create user_sessions."""
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.Column('address', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    """Back to revision 0005."""
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
