"""Scan chunks (chunk subtasks on many workers) and at most one active run per scan.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:14:51.556786
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ACTIVE = "state IN ('queued', 'running', 'retrying')"


def upgrade() -> None:
    """Add the chunk table, the run's scan time and chunk counters, and the unique index."""
    op.create_table(
        'task_run_chunks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_run_id', sa.Integer(), nullable=False),
        sa.Column('first_id', sa.Integer(), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('scanned', sa.Integer(), nullable=False),
        sa.Column('notified', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['task_run_id'], ['task_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('task_run_id', 'first_id', name='uq_task_run_chunk'),
    )
    # Older data may hold several active runs of one scan; keep the newest active.
    op.execute(
        "UPDATE task_runs SET state = 'failed', error = 'superseded by a newer run' "
        f"WHERE {ACTIVE} AND id NOT IN (SELECT MAX(id) FROM task_runs WHERE {ACTIVE} "
        "GROUP BY task)")
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scan_now', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('chunks_total', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('chunks_done', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.create_index('uq_task_runs_one_active', ['task'], unique=True,
                              sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    """Back to revision 0001."""
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.drop_index('uq_task_runs_one_active')
        batch_op.drop_column('chunks_done')
        batch_op.drop_column('chunks_total')
        batch_op.drop_column('scan_now')
    op.drop_table('task_run_chunks')
