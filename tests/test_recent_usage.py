"""Meters' recent usage: kept in step with each reading, equal to a rebuild from the readings."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from dashboard.models import Meter, MeterReading, MeterUsage
from dashboard.services.errors import ValidationFailed
from dashboard.services.wallets import recent_usage
from dashboard.services.wallets.readings import record_reading

D = Decimal
RECORDED = datetime(2026, 6, 1, tzinfo=timezone.utc)  # the clock while recording
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
COLUMNS = [c.name for c in MeterUsage.__table__.columns]


def row(db, meter_id: int) -> dict | None:
    """The meter's row as a dict, or None."""
    got = db.execute(select(MeterUsage.__table__).where(MeterUsage.meter_id == meter_id)).first()
    return got._asdict() if got else None


def rebuilt(db, meter_id: int) -> dict | None:
    """The row `fill` makes from the meter's readings (the kept row is put back after)."""
    kept = row(db, meter_id)
    db.execute(delete(MeterUsage).where(MeterUsage.meter_id == meter_id))
    recent_usage.fill(db, MeterReading.meter_id == meter_id)
    made = row(db, meter_id)
    db.rollback()
    assert row(db, meter_id) == kept
    return made


def record(db, meter, points):
    """Record (taken_at, reading[, is_replacement]) points through the readings service."""
    for taken, value, *flag in points:
        record_reading(db, meter.id, str(value), taken.isoformat(), now=RECORDED,
                       is_replacement=bool(flag and flag[0]))


def test_a_meter_read_on_two_days(db, make):
    """Readings on 2 and 3 March (UTC): the row holds the 3rd, the 2nd as the day before,
    and the running total."""
    w = make.wallet()
    m = make.meter(w)
    day2, day3 = START + timedelta(days=1), START + timedelta(days=2)
    record(db, m, [(day2 + timedelta(hours=1), "100"),     # first ever: uses 0
                   (day2 + timedelta(hours=9), "104.5"),
                   (day2 + timedelta(hours=23, minutes=59), "110"),
                   (day3 + timedelta(hours=6), "113.25"), (day3 + timedelta(hours=7), "114")])
    assert row(db, m.id) == {
        "meter_id": m.id, "day": date(2026, 3, 3), "total": D("14.000"),
        "total_at_1": D("10.000"), "total_at_2": D(0), "total_at_30": D(0), "total_at_31": D(0),
        "first_at": day3 + timedelta(hours=6), "first_consumption": D("3.250"),
        "last_at": day3 + timedelta(hours=7), "last_consumption": D("0.750"),
        "prior_first_at": day2 + timedelta(hours=1), "prior_first_consumption": D("0.000"),
        "prior_last_at": day2 + timedelta(hours=23, minutes=59), "first_day": date(2026, 3, 2)}
    assert rebuilt(db, m.id) == row(db, m.id)


def test_a_gap_forgets_the_day_before_and_keeps_the_totals_a_month_back(db, make):
    """Read daily for 40 days, then after a 3-day gap: no day before, and the running totals
    at the ends of the days 30 and 31 days back."""
    w = make.wallet()
    m = make.meter(w)
    points = [(START + timedelta(days=k, hours=4), 10 * k) for k in range(40)]
    record(db, m, points + [(START + timedelta(days=43, hours=4), 500)])
    got = row(db, m.id)
    assert got["day"] == date(2026, 4, 13) and got["prior_first_at"] is None
    # Days 12 and 13 after START end with totals of 120 and 130 (10 a day from day 1); the
    # last reading before the gap, on day 39, leaves 390.
    assert (got["total_at_31"], got["total_at_30"]) == (D("120.000"), D("130.000"))
    assert got["total_at_1"] == got["total_at_2"] == D("390.000")
    assert got == rebuilt(db, m.id)


def test_days_are_utc_days(db, make):
    """23:30 and 00:30 in UTC are two days (in Johannesburg both fall on the second one)."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc), "1"),
                   (datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc), "2")])
    got = row(db, m.id)
    assert (got["day"], got["first_day"], got["prior_first_at"], got["total_at_1"]) == (
        date(2026, 3, 2), date(2026, 3, 1), datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc),
        D(0))


def test_replacement_counts_the_new_register(db, make):
    """A replaced meter's new register is its consumption, as in the readings."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(START, "48210"), (START + timedelta(hours=5), "48220"),
                   (START + timedelta(hours=6), "4.5", True)])
    got = row(db, m.id)
    assert (got["total"], got["total_at_1"], got["last_consumption"]) == (
        D("14.500"), D(0), D("4.500"))


@pytest.mark.parametrize("late", [timedelta(hours=-1), timedelta(0)])
def test_a_late_reading_is_refused_and_changes_nothing(db, make, late):
    """A reading older than (or as old as) the meter's last is refused: the row stays right."""
    w = make.wallet()
    m = make.meter(w)
    record(db, m, [(START, "10"), (START + timedelta(days=2), "20")])
    before = row(db, m.id)
    with pytest.raises(ValidationFailed):
        record(db, m, [(START + timedelta(days=2) + late, "15")])
    assert row(db, m.id) == before == rebuilt(db, m.id)


def test_seed_fills_the_rows(db):
    """The demo seed writes readings in bulk and the meters' rows with them."""
    from dashboard.services.demo.seed import seed

    made = seed(db, wallets=3, seed=7, now=RECORDED)
    db.commit()
    meters = db.scalars(select(Meter.id).join(MeterReading, MeterReading.meter_id == Meter.id)
                        .distinct()).all()
    assert made.readings and len(meters) == 6  # electricity and water of three units
    for meter_id in meters:
        assert row(db, meter_id) is not None and row(db, meter_id) == rebuilt(db, meter_id)


@st.composite
def reading_plan(draw):
    """Up to 40 readings of one meter over 70 days: times (sorted, distinct, some on day
    edges to the microsecond, some hours or weeks apart), uses and replacements."""
    seconds = draw(st.lists(st.one_of(st.integers(0, 24 * 70).map(lambda h: h * 3600),
                                      st.integers(0, 70 * 86400 - 1)),
                            unique=True, max_size=40))
    edge = draw(st.sampled_from([timedelta(0), timedelta(microseconds=1),
                                 -timedelta(microseconds=1)]))
    times = sorted(START + edge + timedelta(seconds=s) for s in seconds)
    return [(t, draw(st.integers(0, 20_000)), draw(st.booleans()) and draw(st.booleans()))
            for t in times]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plans=st.lists(reading_plan(), min_size=1, max_size=3))
def test_readings_one_by_one_give_the_row_of_a_rebuild(db, make, plans):
    """Whatever the readings (same day, day edges to the microsecond, gaps of any length,
    replacements), the row kept as they arrive equals the one made from all of them at once,
    and its running totals are the readings' sums."""
    w = make.wallet()
    for plan in plans:
        m = make.meter(w)
        register = D(0)
        points = []
        for taken, use, replaced in plan:
            register = D(use) / 1000 if replaced else register + D(use) / 1000
            points.append((taken, register, replaced))
        record(db, m, points)
        got = row(db, m.id)
        assert got == rebuilt(db, m.id)
        if got:
            used = [(r.taken_at, r.consumption) for r in db.execute(
                select(MeterReading.taken_at, MeterReading.consumption)
                .where(MeterReading.meter_id == m.id))]
            start = datetime.combine(got["day"], datetime.min.time(), timezone.utc)
            assert got["total"] == sum(c for _, c in used)
            for n in (1, 2, 30, 31):
                end = start - timedelta(days=n - 1)
                assert got[f"total_at_{n}"] == sum(c for t, c in used if t < end)


def test_migration_fills_the_rows_from_existing_readings(tmp_path):
    """Readings stored before the table existed get their rows when it is made (the
    migration's own backfill SQL, on this test's database: SQLite or PostgreSQL)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session as OrmSession

    from dashboard.migrate import alembic_config, upgrade
    from dashboard.models import Estate, Unit
    from tests.conftest import fresh_database

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    before = script.get_revision("0011_meter_usage").down_revision
    url = fresh_database(tmp_path, migrate=before)
    engine = create_engine(url)
    with OrmSession(engine) as s:
        unit = Unit(estate=Estate(name="Old readings", tariffs={}), number="A1")
        meters = [Meter(unit=unit, utility="water", serial=f"OLD-{i}") for i in range(3)]
        s.add_all(meters)
        s.flush()
        for k in range(150):  # every 7 h for 43 days; the last on a replaced meter
            for m in meters[:2]:
                s.add(MeterReading(meter_id=m.id, reading=D(k) if k < 149 else D("0.5"),
                                   consumption=D(1 if k else 0), is_replacement=k == 149,
                                   taken_at=START + timedelta(hours=7 * k)))
        s.commit()
        ids = [m.id for m in meters]
    upgrade(url)
    with OrmSession(engine) as s:
        migrated = {m: row(s, m) for m in ids}
        s.execute(delete(MeterUsage))
        recent_usage.fill(s, MeterReading.meter_id.in_(ids))
        assert migrated == {m: row(s, m) for m in ids}
        assert migrated[ids[2]] is None and migrated[ids[0]]["total"] == D("149.000")
        assert migrated[ids[0]]["total_at_31"] > 0 and migrated[ids[0]]["prior_first_at"]
    engine.dispose()
