"""Meters' recent usage: one row per meter, filled from the readings.

The high-usage scan reads these rows instead of every reading of 31 days (see
dashboard/services/scans/usage_filter.py). The backfill below is the INSERT … SELECT of
services/wallets/recent_usage.fill, written out here so that later changes to the service do
not change what this revision did; it runs per range of meter ids, so each statement's sorts
stay small on a big table.

Revision ID: 0011_meter_usage
Revises: 0010_prepaid_intelligence
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_meter_usage'
down_revision = '0010_prepaid_intelligence'
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
QUANTITY = sa.BigInteger()
METERS_PER_STATEMENT = 50_000
DAY = {"sqlite": "substr({}, 1, 10)", "postgresql": "CAST(timezone('UTC', {}) AS DATE)"}
ADD_DAYS = {"sqlite": "date({}, '{:+d} days')", "postgresql": "({} + {})"}
BACKFILL = """
INSERT INTO meter_usage (meter_id, day, total, total_at_1, total_at_2, total_at_30, total_at_31,
    first_at, first_consumption, last_at, last_consumption, prior_first_at,
    prior_first_consumption, prior_last_at, first_day)
WITH meter AS (
    SELECT meter_id, max({day}) AS day, min({day}) AS first_day, sum(consumption) AS total
    FROM meter_readings WHERE meter_id BETWEEN :first AND :last GROUP BY meter_id),
back AS (
    SELECT r.meter_id,
           sum(CASE WHEN {day} >= m.day THEN consumption ELSE 0 END) AS since_1,
           sum(CASE WHEN {day} >= {minus_1} THEN consumption ELSE 0 END) AS since_2,
           sum(CASE WHEN {day} >= {minus_29} THEN consumption ELSE 0 END) AS since_30,
           sum(CASE WHEN {day} >= {minus_30} THEN consumption ELSE 0 END) AS since_31
    FROM meter_readings r JOIN meter m ON m.meter_id = r.meter_id
    WHERE r.meter_id BETWEEN :first AND :last AND {day} >= {minus_30}
    GROUP BY r.meter_id),
days AS (
    SELECT meter_id, latest, min(taken_at) AS first_at, max(taken_at) AS last_at,
           sum(CASE WHEN up = 1 THEN consumption ELSE 0 END) AS first_c,
           sum(CASE WHEN down = 1 THEN consumption ELSE 0 END) AS last_c
    FROM (SELECT r.meter_id, {day} = m.day AS latest, r.taken_at, r.consumption,
                 row_number() OVER (PARTITION BY r.meter_id, {day} ORDER BY r.taken_at) AS up,
                 row_number() OVER (PARTITION BY r.meter_id, {day} ORDER BY r.taken_at DESC)
                     AS down
          FROM meter_readings r JOIN meter m ON m.meter_id = r.meter_id
          WHERE r.meter_id BETWEEN :first AND :last AND {day} >= {minus_1}) AS recent
    GROUP BY meter_id, latest)
SELECT m.meter_id, m.day, m.total, m.total - b.since_1, m.total - b.since_2,
       m.total - b.since_30, m.total - b.since_31, t.first_at, t.first_c, t.last_at, t.last_c,
       p.first_at, p.first_c, p.last_at, m.first_day
FROM meter m JOIN back b ON b.meter_id = m.meter_id
JOIN days t ON t.meter_id = m.meter_id AND t.latest = {true}
LEFT JOIN days p ON p.meter_id = m.meter_id AND p.latest = {false}
"""


def upgrade() -> None:
    """Create the table, then fill it."""
    op.create_table(
        'meter_usage',
        sa.Column('meter_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('total', QUANTITY, nullable=False),
        sa.Column('total_at_1', QUANTITY, nullable=False),
        sa.Column('total_at_2', QUANTITY, nullable=False),
        sa.Column('total_at_30', QUANTITY, nullable=False),
        sa.Column('total_at_31', QUANTITY, nullable=False),
        sa.Column('first_at', TIME, nullable=False),
        sa.Column('first_consumption', QUANTITY, nullable=False),
        sa.Column('last_at', TIME, nullable=False),
        sa.Column('last_consumption', QUANTITY, nullable=False),
        sa.Column('prior_first_at', TIME, nullable=True),
        sa.Column('prior_first_consumption', QUANTITY, nullable=True),
        sa.Column('prior_last_at', TIME, nullable=True),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['meter_id'], ['meters.id']),
        sa.PrimaryKeyConstraint('meter_id'))
    conn = op.get_bind()
    low, high = conn.execute(sa.text("SELECT min(meter_id), max(meter_id) FROM meter_readings")
                             ).one()
    if low is None:
        return
    name = conn.dialect.name
    day = DAY[name].format("taken_at")
    backfill = sa.text(BACKFILL.format(
        day=day, minus_1=ADD_DAYS[name].format("m.day", -1),
        minus_29=ADD_DAYS[name].format("m.day", -29), minus_30=ADD_DAYS[name].format("m.day", -30),
        true="1" if name == "sqlite" else "true", false="0" if name == "sqlite" else "false"))
    for first in range(low, high + 1, METERS_PER_STATEMENT):
        conn.execute(backfill, {"first": first, "last": first + METERS_PER_STATEMENT - 1})


def downgrade() -> None:
    """Drop the table (the readings keep everything it summed)."""
    op.drop_table('meter_usage')
