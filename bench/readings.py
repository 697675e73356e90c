"""Meter readings for the benchmarks: every meter read once or twice a day for 31 days.

Written set-based (one INSERT … SELECT per range of meters, from the meters and a small
table of reading times), so 124 million readings take minutes. The values come from integer
arithmetic on the meter id and the reading's number, not from Python's random generator, so
SQLite and PostgreSQL get the same readings from the same statement. The meters' usage rows
are then filled as every bulk writer of readings must (services/wallets/recent_usage.fill).

Use per meter and day (thousandths of a kWh or kL): a base between the utility's bounds,
35% of it at the morning reading and 65% at the evening one (all of it when read once a day),
a quarter more at weekends, ±15% noise per reading; one meter in HEAVY_EVERY uses 2.6 times
its usual in the last 24 hours, which is what the high-usage scan should find.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import text

from .common import log

DAYS = 31
HEAVY_EVERY = 250  # one meter in 250 (0.4%): about as many alerts at 1M as round 2 had
METERS_PER_STATEMENT = 100_000
MID = "CAST(m.id AS BIGINT)"  # PostgreSQL's integer (32-bit) products would overflow
# Daily use bounds per utility, thousandths: kWh for electricity and solar, kL for water.
DAILY_USE = {"electricity": (8_000, 22_000), "water": (250, 900), "solar": (5_000, 15_000),
             "hot_water": (50, 200)}


def per_day(wallets: int) -> int:
    """Readings a day per meter: two, or one at a million wallets and more, where two a day
    (248 million readings, ~40 GB) do not fit this machine's disk beside the rest."""
    return 2 if wallets < 1_000_000 else 1


def plan(wallets: int) -> dict:
    """What a database's readings are, recorded in its meta: re-seeded when this changes."""
    return {"per_day": per_day(wallets), "days": DAYS, "heavy_every": HEAVY_EVERY,
            "version": 1}


def slots(now: datetime, per_day: int) -> list[tuple[datetime, int, bool]]:
    """(time, share of the day's use in permille with the weekend factor, within the last
    24 h) of every reading in the DAYS days before `now`: at 04:00 and 16:00 UTC (06:00 and
    18:00 in Johannesburg), or at 04:00 only."""
    first = (now - timedelta(days=DAYS)).date()
    hours = ((4, 350), (16, 650)) if per_day == 2 else ((4, 1000),)
    out = []
    for day in range(DAYS + 1):
        for hour, share in hours:
            taken = datetime.combine(first + timedelta(days=day), time(hour), timezone.utc)
            if now - timedelta(days=DAYS) < taken <= now:
                weekend = 1250 if taken.weekday() >= 5 else 1000
                out.append((taken, share * weekend // 1000, now - taken < timedelta(hours=24)))
    return out


def _base_use() -> str:
    """SQL: the meter's usual daily use in thousandths, from its utility and id."""
    cases = " ".join(f"WHEN '{u}' THEN {lo} + ({MID} * 2654435761) % {hi - lo}"
                     for u, (lo, hi) in DAILY_USE.items())
    return f"(CASE m.utility {cases} END)"


def insert_sql(dialect: str, count: int) -> str:
    """One INSERT … SELECT of the readings at `count` times (:t0, :s0, :r0 ...: time, share,
    recent) of the meters :first..:last, each reading's register the running total."""
    true, false = ("1", "0") if dialect == "sqlite" else ("true", "false")
    at = "{}" if dialect == "sqlite" else "CAST({} AS TIMESTAMP WITH TIME ZONE)"
    rows = ", ".join(f"({k}, {at.format(f':t{k}')}, :s{k}, :r{k})" for k in range(count))
    use = (f"{_base_use()} * s.share / 1000 * (850 + ({MID} * 40503 + s.k * 9973) % 301) / 1000"
           f" * (CASE WHEN m.id % {HEAVY_EVERY} = 0 AND s.recent = {true} THEN 26 ELSE 10 END)"
           " / 10")
    return (
        "INSERT INTO meter_readings (meter_id, reading, consumption, taken_at, is_replacement, "
        "created_at) "
        f"WITH s (k, taken, share, recent) AS (VALUES {rows}), "
        f"r AS (SELECT m.id AS meter_id, s.k, s.taken, {use} AS used FROM meters m, s "
        "WHERE m.id BETWEEN :first AND :last) "
        "SELECT meter_id, 1000000 + (CAST(meter_id AS BIGINT) * 7919) % 19000000 "
        "+ sum(used) OVER (PARTITION BY meter_id ORDER BY k), used, taken, "
        f"{false}, taken FROM r ORDER BY meter_id, k")


def seed_readings(engine, now: datetime, wallets: int, ts=lambda t: t) -> int:
    """Write every meter's readings, then their usage rows, a range of meters per committed
    statement, the readings' indexes dropped meanwhile and built once at the end (faster than
    keeping them up row by row). `ts` formats a time as the database stores it. Returns the
    readings written."""
    from dashboard.models import MeterReading
    from dashboard.services.wallets import recent_usage

    times = slots(now, per_day(wallets))
    sql = text(insert_sql(engine.dialect.name, len(times)))
    params = {}
    for k, (taken, share, recent) in enumerate(times):
        params.update({f"t{k}": ts(taken), f"s{k}": share, f"r{k}": recent})
    with engine.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM meters")).one()
    if low is None:
        return 0
    ranges = [(first, first + METERS_PER_STATEMENT - 1)
              for first in range(low, high + 1, METERS_PER_STATEMENT)]
    indexes = list(MeterReading.__table__.indexes)
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn, checkfirst=True)
    written = 0
    for n, (first, last) in enumerate(ranges, start=1):
        with engine.begin() as conn:
            written += conn.execute(sql, {**params, "first": first, "last": last}).rowcount
        if n % 10 == 0 or n == len(ranges):
            log(f"{written:,} readings written (meters up to {min(last, high):,})")
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    log("readings indexed; filling the meters' usage rows")
    for first, last in ranges:
        with engine.begin() as conn:
            recent_usage.fill(conn, MeterReading.meter_id.between(first, last))
    return written
