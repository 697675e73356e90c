"""Each meter's recent usage (models.MeterUsage), kept in step with its readings.

A reading updates its meter's row in the transaction that stores it (`add_reading`);
readings written in bulk (the demo seed, the migration that made the table, test loaders)
get their meters' rows from one INSERT … SELECT over the readings (`fill`). Both give the same
rows: tests/test_recent_usage.py holds them to it.

Readings of a meter arrive in time order (readings.py refuses one not newer than the last),
so a reading either adds to the meter's latest day or starts a new one; only then does it
look back, over the meter's readings of the last month.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import and_, case, func, insert, literal, select, update

from ...models import MeterReading, MeterUsage
from ..sqlfuncs import add_days, utc_date

USAGE = MeterUsage.__table__
READINGS = MeterReading.__table__
LOOK_BACK = (1, 2, 30, 31)  # days before `day` at whose end the running total is kept


def day_of(moment: datetime) -> date:
    """The UTC date a reading taken at `moment` counts on."""
    return moment.astimezone(timezone.utc).date()


def _start(day: date) -> datetime:
    """The first moment of a UTC day."""
    return datetime.combine(day, time(0), timezone.utc)


def add_reading(session, meter_id: int, taken: datetime, consumption: Decimal) -> None:
    """Count a new reading, the meter's latest, in its row (in the caller's transaction)."""
    day = day_of(taken)
    now = session.execute(select(USAGE).where(USAGE.c.meter_id == meter_id)).first()
    latest = {"last_at": taken, "last_consumption": consumption}
    if now is None:
        session.execute(insert(USAGE).values(
            meter_id=meter_id, day=day, total=consumption, first_at=taken,
            first_consumption=consumption, first_day=day, **latest,
            **{f"total_at_{n}": Decimal(0) for n in LOOK_BACK}))
        return
    if now.day == day:
        session.execute(update(USAGE).where(USAGE.c.meter_id == meter_id).values(
            total=USAGE.c.total + consumption, **latest))
        return
    # A new day: the running totals at the ends of the look-back days are the total so far
    # less what was read after each (all of it before `taken`).
    r = READINGS.c
    since = session.execute(
        select(*[func.sum(case((r.taken_at >= _start(day - timedelta(days=n - 1)),
                                r.consumption), else_=0)) for n in LOOK_BACK])
        .where(r.meter_id == meter_id, r.taken_at >= _start(day - timedelta(days=30)),
               r.taken_at < taken)).one()
    yesterday = now.day == day - timedelta(days=1)
    session.execute(update(USAGE).where(USAGE.c.meter_id == meter_id).values(
        day=day, total=now.total + consumption, first_at=taken, first_consumption=consumption,
        prior_first_at=now.first_at if yesterday else None,
        prior_first_consumption=now.first_consumption if yesterday else None,
        prior_last_at=now.last_at if yesterday else None, **latest,
        **{f"total_at_{n}": now.total - (got or 0) for n, got in zip(LOOK_BACK, since,
                                                                     strict=True)}))


def fill(session, meters) -> int:
    """Make the rows of the meters matching `meters` (a condition on MeterReading.meter_id)
    from all their readings, in one statement; they must have none yet. Returns the rows.

    Per meter: the latest day, first day and total (one pass over the readings); then what
    was read since the start of each look-back day's next day (the totals at their ends are
    the total less those); then the latest day and the one before it, each reading numbered
    from either end of its day, so the first and last readings are known.
    """
    r = READINGS.c
    day = utc_date(r.taken_at)
    meter = select(r.meter_id, func.max(day).label("day"), func.min(day).label("first_day"),
                   func.sum(r.consumption).label("total")
                   ).where(meters).group_by(r.meter_id).cte("meter")
    joined = and_(meters, r.meter_id == meter.c.meter_id)
    back = select(r.meter_id, *[
        func.sum(case((day >= add_days(meter.c.day, 1 - n), r.consumption), else_=0))
        .label(f"since_{n}") for n in LOOK_BACK],
    ).where(joined, day >= add_days(meter.c.day, -30)).group_by(r.meter_id).cte("back")
    each_day = (r.meter_id, day)
    recent = select(
        r.meter_id, (day == meter.c.day).label("latest"), r.taken_at, r.consumption,
        func.row_number().over(partition_by=each_day, order_by=r.taken_at).label("up"),
        func.row_number().over(partition_by=each_day, order_by=r.taken_at.desc()).label("down"),
    ).where(joined, day >= add_days(meter.c.day, -1)).subquery()
    days = select(
        recent.c.meter_id, recent.c.latest,
        func.min(recent.c.taken_at).label("first_at"), func.max(recent.c.taken_at).label("last_at"),
        func.sum(case((recent.c.up == 1, recent.c.consumption), else_=0)).label("first_c"),
        func.sum(case((recent.c.down == 1, recent.c.consumption), else_=0)).label("last_c"),
    ).group_by(recent.c.meter_id, recent.c.latest).cte("days")
    today, prior = days.alias("today"), days.alias("prior")
    rows = (
        select(meter.c.meter_id, meter.c.day, meter.c.total,
               *[meter.c.total - back.c[f"since_{n}"] for n in LOOK_BACK],
               today.c.first_at, today.c.first_c, today.c.last_at, today.c.last_c,
               prior.c.first_at, prior.c.first_c, prior.c.last_at, meter.c.first_day)
        .join(back, back.c.meter_id == meter.c.meter_id)
        .join(today, and_(today.c.meter_id == meter.c.meter_id, today.c.latest == literal(True)))
        .outerjoin(prior, and_(prior.c.meter_id == meter.c.meter_id,
                               prior.c.latest == literal(False)))
    )
    columns = ["meter_id", "day", "total", *[f"total_at_{n}" for n in LOOK_BACK], "first_at",
               "first_consumption", "last_at", "last_consumption", "prior_first_at",
               "prior_first_consumption", "prior_last_at", "first_day"]
    return session.execute(insert(USAGE).from_select(columns, rows)).rowcount
