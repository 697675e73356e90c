"""The daily usage of each meter (models.MeterDailyUsage), kept in step with its readings.

A reading is counted in its UTC day's row in the transaction that stores it (`add_reading`);
readings written in bulk (the demo seed, the migration that made the table, test loaders)
get their rows from one INSERT … SELECT over the readings (`fill`). Both give the same rows:
tests/test_usage_days.py holds them to it.

Readings of a meter arrive in time order (readings.py refuses one not newer than the last),
so a new reading only ever changes the meter's latest row, or starts the next one.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import case, func, insert, select, update

from ...models import MeterDailyUsage, MeterReading
from ..sqlfuncs import utc_date

DAYS = MeterDailyUsage.__table__
READINGS = MeterReading.__table__


def day_of(moment: datetime) -> date:
    """The UTC date a reading taken at `moment` is counted on."""
    return moment.astimezone(timezone.utc).date()


def add_reading(session, meter_id: int, taken: datetime, consumption: Decimal,
                previous: datetime | None) -> None:
    """Count a new reading (the meter's latest; `previous` is the time of the one before it,
    None for its first) in its day's row, in the caller's transaction."""
    day = day_of(taken)
    here = (DAYS.c.day == day) & (DAYS.c.meter_id == meter_id)
    if previous is not None and day_of(previous) == day:
        session.execute(update(DAYS).where(here).values(
            consumption=DAYS.c.consumption + consumption,
            cumulative=DAYS.c.cumulative + consumption,
            last_at=taken, last_consumption=consumption))
        return
    before = None
    if previous is not None:
        earlier = (DAYS.c.day == day_of(previous)) & (DAYS.c.meter_id == meter_id)
        before = session.execute(select(DAYS.c.cumulative, DAYS.c.first_day).where(earlier)).one()
        session.execute(update(DAYS).where(earlier).values(next_day=day))
    session.execute(insert(DAYS).values(
        day=day, meter_id=meter_id, consumption=consumption,
        cumulative=(before.cumulative if before else Decimal(0)) + consumption,
        first_at=taken, first_consumption=consumption, last_at=taken,
        last_consumption=consumption, first_day=before.first_day if before else day,
        next_day=None))


def fill(session, meters) -> int:
    """Make the rows of the meters matching `meters` (a condition on
    MeterReading.meter_id) from all their readings, in one statement; they must have none yet.
    Returns the rows made."""
    day = utc_date(READINGS.c.taken_at)
    meter_day = (READINGS.c.meter_id, day)
    ranked = select(
        READINGS.c.meter_id, day.label("day"), READINGS.c.taken_at, READINGS.c.consumption,
        func.row_number().over(partition_by=meter_day, order_by=READINGS.c.taken_at)
        .label("up"),
        func.row_number().over(partition_by=meter_day, order_by=READINGS.c.taken_at.desc())
        .label("down"),
    ).where(meters).subquery()
    days = select(
        ranked.c.meter_id, ranked.c.day, func.sum(ranked.c.consumption).label("consumption"),
        func.min(ranked.c.taken_at).label("first_at"),
        func.sum(case((ranked.c.up == 1, ranked.c.consumption), else_=0))
        .label("first_consumption"),
        func.max(ranked.c.taken_at).label("last_at"),
        func.sum(case((ranked.c.down == 1, ranked.c.consumption), else_=0))
        .label("last_consumption"),
    ).group_by(ranked.c.meter_id, ranked.c.day).subquery()
    in_order = {"partition_by": days.c.meter_id, "order_by": days.c.day}
    rows = select(
        days.c.day, days.c.meter_id, days.c.consumption,
        func.sum(days.c.consumption).over(**in_order),  # running total: to the day's end
        days.c.first_at, days.c.first_consumption, days.c.last_at, days.c.last_consumption,
        func.min(days.c.day).over(partition_by=days.c.meter_id),
        func.lead(days.c.day).over(**in_order),
    )
    columns = ["day", "meter_id", "consumption", "cumulative", "first_at", "first_consumption",
               "last_at", "last_consumption", "first_day", "next_day"]
    return session.execute(insert(DAYS).from_select(columns, rows)).rowcount
