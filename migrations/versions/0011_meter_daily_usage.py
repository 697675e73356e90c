"""Meters' daily usage: one row per meter and UTC day with readings, filled from the readings.

The high-usage scan reads these rows instead of every reading of 31 days (see
dashboard/services/scans/usage_filter.py). The backfill below is the same INSERT … SELECT as
services/wallets/usage_days.fill, written out here so that later changes to the service do not
change what this revision did; it runs per range of meter ids, so each statement's sort stays
small on a big table.

Revision ID: 0011_meter_daily_usage
Revises: 0009_webhooks
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_meter_daily_usage'
down_revision = '0009_webhooks'
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
METERS_PER_STATEMENT = 50_000
DAY = {"sqlite": "substr(taken_at, 1, 10)",
       "postgresql": "CAST(timezone('UTC', taken_at) AS DATE)"}
BACKFILL = """
INSERT INTO meter_daily_usage (day, meter_id, consumption, cumulative, first_at,
    first_consumption, last_at, last_consumption, first_day, next_day)
WITH ranked AS (
    SELECT meter_id, {day} AS day, taken_at, consumption,
           row_number() OVER (PARTITION BY meter_id, {day} ORDER BY taken_at) AS up,
           row_number() OVER (PARTITION BY meter_id, {day} ORDER BY taken_at DESC) AS down
    FROM meter_readings WHERE meter_id BETWEEN :first AND :last),
days AS (
    SELECT meter_id, day, sum(consumption) AS consumption, min(taken_at) AS first_at,
           sum(CASE WHEN up = 1 THEN consumption ELSE 0 END) AS first_consumption,
           max(taken_at) AS last_at,
           sum(CASE WHEN down = 1 THEN consumption ELSE 0 END) AS last_consumption
    FROM ranked GROUP BY meter_id, day)
SELECT day, meter_id, consumption,
       sum(consumption) OVER (PARTITION BY meter_id ORDER BY day),
       first_at, first_consumption, last_at, last_consumption,
       min(day) OVER (PARTITION BY meter_id),
       lead(day) OVER (PARTITION BY meter_id ORDER BY day)
FROM days
"""


def upgrade() -> None:
    """Create the table (clustered by day and meter on SQLite), then fill it."""
    op.create_table(
        'meter_daily_usage',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('meter_id', sa.Integer(), nullable=False),
        sa.Column('consumption', sa.BigInteger(), nullable=False),
        sa.Column('cumulative', sa.BigInteger(), nullable=False),
        sa.Column('first_at', TIME, nullable=False),
        sa.Column('first_consumption', sa.BigInteger(), nullable=False),
        sa.Column('last_at', TIME, nullable=False),
        sa.Column('last_consumption', sa.BigInteger(), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('next_day', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['meter_id'], ['meters.id']),
        sa.PrimaryKeyConstraint('day', 'meter_id'),
        sqlite_with_rowid=False)
    conn = op.get_bind()
    low, high = conn.execute(sa.text("SELECT min(meter_id), max(meter_id) FROM meter_readings")
                             ).one()
    if low is None:
        return
    backfill = sa.text(BACKFILL.format(day=DAY[conn.dialect.name]))
    for first in range(low, high + 1, METERS_PER_STATEMENT):
        conn.execute(backfill, {"first": first, "last": first + METERS_PER_STATEMENT - 1})


def downgrade() -> None:
    """Drop the table (the readings keep everything it summed)."""
    op.drop_table('meter_daily_usage')
