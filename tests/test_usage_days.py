"""Meters' daily usage: kept in step with each reading, equal to a rebuild from the readings."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from dashboard.models import Meter, MeterDailyUsage, MeterReading
from dashboard.services.errors import ValidationFailed
from dashboard.services.wallets import usage_days
from dashboard.services.wallets.readings import record_reading

D = Decimal
RECORDED = datetime(2026, 4, 1, tzinfo=timezone.utc)  # the clock while recording
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
COLUMNS = ("day", "meter_id", "consumption", "cumulative", "first_at", "first_consumption",
           "last_at", "last_consumption", "first_day", "next_day")


def rows(db, meter_id: int) -> list[tuple]:
    """The meter's daily usage rows, oldest first, as plain tuples."""
    t = MeterDailyUsage.__table__
    return [tuple(r) for r in db.execute(select(*[t.c[c] for c in COLUMNS])
                                         .where(t.c.meter_id == meter_id).order_by(t.c.day))]


def rebuilt(db, meter_id: int) -> list[tuple]:
    """The rows `fill` makes from the meter's readings (the kept rows are put back after)."""
    kept = rows(db, meter_id)
    db.execute(delete(MeterDailyUsage).where(MeterDailyUsage.meter_id == meter_id))
    usage_days.fill(db, MeterReading.meter_id == meter_id)
    made = rows(db, meter_id)
    db.rollback()
    assert rows(db, meter_id) == kept
    return made


def record(db, meter, points):
    """Record (taken_at, reading[, is_replacement]) points through the readings service."""
    for taken, value, *flag in points:
        record_reading(db, meter.id, str(value), taken.isoformat(), now=RECORDED,
                       is_replacement=bool(flag and flag[0]))


def test_a_day_of_readings_is_one_row(db, make):
    """Three readings on 2 March (UTC) and one on the 4th: two rows, linked, running total."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(START + timedelta(days=1, hours=1), "100"),     # first ever: uses 0
                   (START + timedelta(days=1, hours=9), "104.5"),
                   (START + timedelta(days=1, hours=23, minutes=59), "110"),
                   (START + timedelta(days=3, hours=6), "113.25")])
    first, second = rows(db, m.id)
    assert first == (date(2026, 3, 2), m.id, D("10.000"), D("10.000"),
                     START + timedelta(days=1, hours=1), D("0.000"),
                     START + timedelta(days=1, hours=23, minutes=59), D("5.500"),
                     date(2026, 3, 2), date(2026, 3, 4))
    assert second == (date(2026, 3, 4), m.id, D("3.250"), D("13.250"),
                      START + timedelta(days=3, hours=6), D("3.250"),
                      START + timedelta(days=3, hours=6), D("3.250"), date(2026, 3, 2), None)
    assert rebuilt(db, m.id) == [first, second]


def test_days_are_utc_days(db, make):
    """23:30 and 00:30 in UTC are two days (in Johannesburg both fall on the second one)."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc), "1"),
                   (datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc), "2")])
    assert [r[0] for r in rows(db, m.id)] == [date(2026, 3, 1), date(2026, 3, 2)]


def test_replacement_counts_the_new_register(db, make):
    """A replaced meter's new register is its consumption, as in the readings."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(START, "48210"), (START + timedelta(hours=5), "48220"),
                   (START + timedelta(hours=6), "4.5", True)])
    (row,) = rows(db, m.id)
    assert (row[2], row[3], row[7]) == (D("14.500"), D("14.500"), D("4.500"))


@pytest.mark.parametrize("late", [timedelta(hours=-1), timedelta(0)])
def test_a_late_reading_is_refused_and_changes_nothing(db, make, late):
    """A reading older than (or as old as) the meter's last is refused: the rows stay right."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(START, "10"), (START + timedelta(days=2), "20")])
    before = rows(db, m.id)
    with pytest.raises(ValidationFailed):
        record(db, m, [(START + timedelta(days=2) + late, "15")])
    assert rows(db, m.id) == before == rebuilt(db, m.id)


def test_seed_fills_the_daily_usage(db):
    """The demo seed writes readings in bulk and the daily usage with them."""
    from dashboard.services.demo.seed import seed

    made = seed(db, wallets=3, seed=7, now=RECORDED)
    db.commit()
    meters = db.scalars(select(Meter.id).join(MeterReading, MeterReading.meter_id == Meter.id)
                        .distinct()).all()
    assert made.readings and len(meters) == 6  # electricity and water of three units
    for meter_id in meters:
        assert rows(db, meter_id) and rows(db, meter_id) == rebuilt(db, meter_id)


@st.composite
def reading_plan(draw):
    """Up to 30 readings of one meter: times (sorted, distinct, some on day edges), uses and
    replacements."""
    hours = draw(st.lists(st.one_of(st.integers(0, 24 * 12).map(lambda h: h * 3600),
                                    st.integers(0, 12 * 86400 - 1)),
                          unique=True, max_size=30))
    edge = draw(st.sampled_from([timedelta(0), timedelta(microseconds=1),
                                 -timedelta(microseconds=1)]))
    times = sorted(START + edge + timedelta(seconds=s) for s in hours)
    return [(t, draw(st.integers(0, 20_000)), draw(st.booleans()) and draw(st.booleans()))
            for t in times]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plans=st.lists(reading_plan(), min_size=1, max_size=3))
def test_readings_one_by_one_give_the_rows_of_a_rebuild(db, make, plans):
    """Whatever the readings (same day, day edges to the microsecond, gaps, replacements), the
    rows kept as they arrive equal those made from all of them at once."""
    w = make.wallet()
    for plan in plans:
        m = make.meter(w)
        register = D(0)
        points = []
        for taken, use, replaced in plan:
            register = D(use) / 1000 if replaced else register + D(use) / 1000
            points.append((taken, register, replaced))
        record(db, m, points)
        assert rows(db, m.id) == rebuilt(db, m.id)
        assert len(rows(db, m.id)) == len({t.date() for t, *_ in plan})


def test_migration_fills_the_daily_usage_from_existing_readings(tmp_path):
    """Readings stored before the table existed get their rows when it is made (the
    migration's own backfill SQL, on this test's database: SQLite or PostgreSQL)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session as OrmSession

    from dashboard.migrate import alembic_config, upgrade
    from dashboard.models import Estate, Unit
    from tests.conftest import fresh_database

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    before = script.get_revision("0011_meter_daily_usage").down_revision
    url = fresh_database(tmp_path, migrate=before)
    engine = create_engine(url)
    with OrmSession(engine) as s:
        unit = Unit(estate=Estate(name="Old readings", tariffs={}), number="A1")
        meters = [Meter(unit=unit, utility="water", serial=f"OLD-{i}") for i in range(3)]
        s.add_all(meters)
        s.flush()
        register = D(0)
        for k in range(40):  # 40 readings every 7 h, the last on a replaced meter
            register = D(k) if k < 39 else D("0.5")
            for m in meters[:2]:
                s.add(MeterReading(meter_id=m.id, reading=register, consumption=D(1 if k else 0),
                                   taken_at=START + timedelta(hours=7 * k),
                                   is_replacement=k == 39))
        s.commit()
        ids = [m.id for m in meters]
    upgrade(url)
    with OrmSession(engine) as s:
        migrated = {m: rows(s, m) for m in ids}
        s.execute(delete(MeterDailyUsage))
        usage_days.fill(s, MeterReading.meter_id.in_(ids))
        assert migrated == {m: rows(s, m) for m in ids}
        assert len(migrated[ids[0]]) == 12 and migrated[ids[2]] == []
        assert migrated[ids[0]][-1][3] == D("39.000")  # the running total at the end
    engine.dispose()
