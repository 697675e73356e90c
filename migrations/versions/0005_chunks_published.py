"""Count published chunks: a run succeeds only once every chunk's notifications are out.

`task_runs.chunks_published` is bumped after a chunk has published its notifications, and a
run becomes `succeeded` when it reaches `chunks_total` (before, the last chunk to commit
marked it while other chunks could still be publishing). `task_run_chunks.published_at`
makes that bump happen once per chunk, and tells a redelivered chunk whether its first
delivery died before publishing. Chunks recorded before this revision published as they
finished: each is stamped with its finish time and counted on its run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the counter and the stamp, filled in for what was already published."""
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chunks_published', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('task_run_chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True),
                                      nullable=True))
    op.execute("UPDATE task_runs SET chunks_published = chunks_done")
    op.execute("UPDATE task_run_chunks SET published_at = finished_at")


def downgrade() -> None:
    """Back to revision 0004."""
    with op.batch_alter_table('task_run_chunks', schema=None) as batch_op:
        batch_op.drop_column('published_at')
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.drop_column('chunks_published')
