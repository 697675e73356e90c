"""High usage: last 24 h against the 30-day daily average, from consumption, once a local day."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from dashboard.models import MeterReading, Notification
from dashboard.services.scans import high_usage, run_scan

NOW = datetime(2026, 3, 10, 5, 0, tzinfo=timezone.utc)  # 07:00 in Johannesburg
RECORDED = datetime(2026, 4, 1, tzinfo=timezone.utc)  # "now" while recording (no future times)


def daily(first_day: int, start=Decimal("5000"), step=Decimal("10"), end=NOW):
    """Readings every 24 h from `first_day` days before `end` up to a day before it."""
    points, value = [], start
    for back in range(first_day, 0, -1):
        points.append((end - timedelta(days=back), value))
        value += step
    return points, value - step


def meter_with(make, points, utility="electricity"):
    """A meter (in a wallet's unit) with these readings recorded through the service."""
    w = make.wallet("100.00")
    m = make.meter(w, utility)
    make.readings(m, points, now=RECORDED)
    return w, m


def scan(db, now=NOW):
    """The high-usage scan; returns (result, its notifications)."""
    result = run_scan(db, "analyze_high_usage", now=now)
    rows = db.scalars(select(Notification).where(Notification.id.in_(result.notification_ids))
                      ).all() if result.notification_ids else []
    return result, rows


@pytest.mark.parametrize("last_day, flagged", [
    (Decimal("15.000"), False),  # exactly 50% above: not "more than"
    (Decimal("15.001"), True),
    (Decimal("16"), True),
])
def test_more_than_fifty_percent_above_average_is_flagged(db, make, last_day, flagged):
    """Average 10 kWh a day: 15 in the last day is not high usage, 15.001 is."""
    points, last = daily(20)
    _, m = meter_with(make, points + [(NOW - timedelta(minutes=1), last + last_day)])
    result, rows = scan(db)
    assert result.notified == int(flagged) and len(rows) == int(flagged)
    if flagged:
        (n,) = rows
        assert (n.type, n.priority, n.meter_id) == ("high_usage", "high", m.id)
        assert n.data["daily_average"] == "10.000" and Decimal(n.data["last_24h"]) == last_day


def test_message_is_plain_language_with_units(db, make):
    """The alert names the utility, the kWh used and how far above the average it is."""
    points, last = daily(20)
    w, _ = meter_with(make, points + [(NOW - timedelta(hours=1), last + 16)])
    _, (n,) = scan(db)
    assert n.title == "High electricity use"
    assert "used 16 kWh of electricity in the last 24 hours, 60% more than its daily " \
           "average of 10 kWh" in n.message
    assert n.wallet_id == w.id


def test_water_is_in_kilolitres(db, make):
    """Water meters are reported in kL."""
    points, last = daily(10, start=Decimal("100"), step=Decimal("0.5"))
    meter_with(make, points + [(NOW - timedelta(hours=2), last + Decimal("1.2"))], "water")
    _, (n,) = scan(db)
    assert n.title == "High water use" and "1.2 kL" in n.message and "0.5 kL" in n.message


@pytest.mark.parametrize("days_of_history, flagged", [(7, False), (8, True)])
def test_needs_seven_days_of_history(db, make, days_of_history, flagged):
    """A spike on a meter read for under 7 days before the last 24 h is not judged.

    Readings from 7 days back give 6 days of history before the window; from 8 back, 7 days.
    """
    points, last = daily(days_of_history)
    meter_with(make, points + [(NOW - timedelta(hours=1), last + 100)])
    result, _ = scan(db)
    assert result.notified == int(flagged)


def test_meter_replacement_gives_no_false_alert_and_no_negative_consumption(db, make):
    """The register restarts at zero on a new meter: consumption stays the real daily use."""
    old, _ = daily(20, start=Decimal("48210"), end=NOW - timedelta(days=3))
    new = [(NOW - timedelta(days=3), Decimal("2"), True),  # the new meter, read at install
           (NOW - timedelta(days=2), Decimal("12")), (NOW - timedelta(days=1), Decimal("22")),
           (NOW - timedelta(minutes=5), Decimal("33"))]
    _, m = meter_with(make, old + new)
    consumption = list(db.scalars(select(MeterReading.consumption)
                                  .where(MeterReading.meter_id == m.id)
                                  .order_by(MeterReading.taken_at)))
    assert min(consumption) >= 0
    assert consumption[-4:] == [Decimal("2"), Decimal("10"), Decimal("10"), Decimal("11")]
    result, _ = scan(db)
    assert result.scanned == 1 and result.notified == 0


def test_replacement_inside_the_last_day_is_not_a_spike(db, make):
    """A meter swapped an hour ago (new register 4.5) is judged on 4.5 kWh, not on 48,000."""
    old, _ = daily(20, start=Decimal("48210"))
    _, m = meter_with(make, old + [(NOW - timedelta(hours=1), Decimal("4.5"), True)])
    result, _ = scan(db)
    assert result.notified == 0
    usage = db.execute(high_usage.usage_query(MeterReading.meter_id == m.id, NOW)).one()
    assert Decimal(usage.last_24h) == Decimal("4.5")


def test_at_most_one_alert_per_meter_per_local_day(db, make):
    """Johannesburg days, not UTC days: 00:30 and 10:00 on 10 March (local) give one alert,
    although they fall on 9 and 10 March in UTC; 00:30 on 11 March gives the next."""
    base_end = datetime(2026, 3, 9, 22, 0, tzinfo=timezone.utc)
    points, last = daily(20, end=base_end)
    points += [(base_end, last + 40), (base_end + timedelta(hours=24, minutes=10), last + 80)]
    _, m = meter_with(make, points)
    first = datetime(2026, 3, 9, 22, 30, tzinfo=timezone.utc)   # 00:30 on the 10th, local
    same_day = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)  # 10:00 on the 10th, local
    next_day = datetime(2026, 3, 10, 22, 30, tzinfo=timezone.utc)  # 00:30 on the 11th, local
    _, (n1,) = scan(db, first)
    r2, _ = scan(db, same_day)
    assert r2.notified == 0 and r2.skipped == 1
    _, (n3,) = scan(db, next_day)
    assert n1.data["local_day"] == "2026-03-10" and n3.data["local_day"] == "2026-03-11"
    assert db.query(Notification).filter_by(meter_id=m.id).count() == 2


def test_same_scan_twice_at_the_same_moment_stores_one(db, make):
    """A scan retried with the same clock reading makes and reports no second alert."""
    points, last = daily(20)
    meter_with(make, points + [(NOW - timedelta(hours=1), last + 30)])
    assert scan(db)[0].notified == 1
    again, rows = scan(db)
    assert again.notified == 0 and rows == []
    assert db.query(Notification).count() == 1


def test_only_the_spiking_meter_is_flagged(db, make):
    """Steady meters beside a spiking one stay quiet; the spike names its own meter."""
    steady, last = daily(20)
    for _ in range(3):
        meter_with(make, steady + [(NOW - timedelta(hours=3), last + 10)])
    _, hot = meter_with(make, steady + [(NOW - timedelta(hours=3), last + 50)])
    result, rows = scan(db)
    assert result.scanned == 4 and [n.meter_id for n in rows] == [hot.id]
