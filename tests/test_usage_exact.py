"""The high-usage scan reads one row per meter (its recent usage), yet flags exactly the meters
the rule flags when it is applied to the raw readings (the reference below), whatever they are.
Random fleets per run: USAGE_EXACT_EXAMPLES (default 100; `make soak` runs 1,000)."""
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from dashboard.models import Meter, MeterReading, MeterUsage, Notification, NotificationDelivery
from dashboard.services.scans import run_scan
from dashboard.services.scans.high_usage import BASELINE, MIN_HISTORY, THRESHOLD, WINDOW
from dashboard.services.scans.usage_filter import candidates
from dashboard.services.wallets import recent_usage
from dashboard.services.wallets.readings import record_reading

D = Decimal
DAY = timedelta(days=1)
EXAMPLES = int(os.environ.get("USAGE_EXACT_EXAMPLES", "100"))
RECORDED = datetime(2026, 6, 1, tzinfo=timezone.utc)  # the clock while recording
# Scan times: the schedule's 07:00 in Johannesburg, UTC midnight, just before it, any time.
NOWS = [datetime(2026, 3, 10, 5, 0, 0, 731000, tzinfo=timezone.utc),
        datetime(2026, 3, 10, 0, 0, tzinfo=timezone.utc),
        datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(2026, 3, 10, 13, 37, 12, 345678, tzinfo=timezone.utc)]


def reference(readings, now: datetime) -> bool:
    """The rule of DESIGN.md on one meter's raw readings [(taken_at, consumption)]: the last
    24 h more than 50% above the daily average of the 30 days before (from the first reading
    in them), with 7 days of history; the average rounded half to even to 0.001."""
    window_start = now - timedelta(hours=24)
    baseline_start = window_start - timedelta(days=30)
    seen = [(t, c) for t, c in readings if baseline_start < t <= now]
    if not seen:
        return False
    last_24h = sum((c for t, c in seen if t > window_start), D(0))
    baseline = sum((c for t, c in seen if t <= window_start), D(0))
    history = window_start - min(t for t, _ in seen)
    if history < timedelta(days=7):
        return False
    days = Fraction(min(history, timedelta(days=30)) // timedelta(microseconds=1),
                    86_400_000_000)
    average = round(Fraction(baseline) / days, 3)
    return average > 0 and Fraction(last_24h) > average * Fraction(3, 2)


def edges(now: datetime) -> list[datetime]:
    """The moments the rule and the daily rows turn on, and their neighbours."""
    window_start = now - timedelta(hours=24)
    baseline_start = window_start - timedelta(days=30)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    points = [now, window_start, baseline_start, window_start - timedelta(days=7),
              midnight, midnight - DAY, midnight + DAY, midnight - 31 * DAY,
              midnight - 30 * DAY]
    steps = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1),
             timedelta(hours=1), -timedelta(hours=1)]
    return [p + s for p in points for s in steps]


@st.composite
def scattered(draw, now):
    """Readings at random times over 40 days and on the edges (a few after `now`), each with
    its consumption in thousandths and whether the meter was replaced then."""
    span = st.integers(-40 * 86400, 2 * 86400).map(lambda s: now + timedelta(seconds=s))
    times = draw(st.lists(st.one_of(span, st.sampled_from(edges(now))), unique=True,
                          max_size=24))
    steady = draw(st.integers(0, 12_000))
    uses = st.one_of(st.just(steady), st.integers(0, 40_000), st.just(steady * 2 + 1))
    return [(t, draw(uses), draw(st.integers(0, 9)) == 0) for t in sorted(times)]


@st.composite
def regular(draw, now):
    """A meter read every few hours for 2 to 40 days at a steady rate, then for a last stretch
    (around the 24 h window) at another rate: spikes, dips and near-misses of the threshold;
    it may stop being read before the scan."""
    every = timedelta(hours=draw(st.sampled_from([5, 8, 12, 24])))
    offset = timedelta(seconds=draw(st.integers(0, 86399)))
    days = draw(st.integers(2, 40))
    rate = draw(st.integers(1, 3000))  # thousandths an hour
    factor = draw(st.sampled_from([0, 1, 1.4, 1.49, 1.5, 1.51, 1.6, 3]))
    tail = timedelta(hours=draw(st.sampled_from([12, 23, 24, 25, 36])))
    until = now + timedelta(hours=draw(st.sampled_from([6, 0, -6, -13, -30])))  # stops reading
    taken = now - timedelta(days=days) + offset
    out = []
    while taken <= until:
        hours = every / timedelta(hours=1)
        use = round(rate * hours * (factor if taken > now - tail else 1))
        out.append((taken, use, False))
        taken += every
    return out


def quarter_days(now, *, stop_hours: int) -> list:
    """Read at 02:00, 08:00, 14:00 and 20:00 UTC for 35 days, 6 kWh a reading, 30 kWh from
    the 24 h window's start until `stop_hours` before `now`: for a 05:00 scan, the window
    starts between yesterday's first and last readings."""
    first = (now - timedelta(days=35)).replace(hour=2, minute=0, second=0, microsecond=0)
    times = [first + timedelta(hours=6 * k) for k in range(35 * 4 + 8)]
    return [(t, 30_000 if t > now - timedelta(hours=24) else 6_000, False)
            for t in times if t <= now - timedelta(hours=stop_hours)]


def meter_plan(now):
    """One meter's readings, scattered or regular."""
    return st.one_of(scattered(now), regular(now))


def store(db, meter, plan, bulk: bool) -> list[tuple[datetime, Decimal]]:
    """Write the plan's readings (through the service, or in bulk and then `fill`);
    returns [(taken_at, consumption)] as the readings table holds them."""
    register, rows = D(0), []
    for i, (taken, use, replaced) in enumerate(plan):
        first = i == 0
        consumption = D(use) / 1000 if (replaced or not first) else D(0)
        register = D(use) / 1000 if replaced else register + D(use) / 1000
        if bulk:
            rows.append({"meter_id": meter.id, "reading": register, "consumption": consumption,
                         "taken_at": taken, "is_replacement": replaced, "created_at": taken})
        else:
            record_reading(db, meter.id, str(register), taken.isoformat(), now=RECORDED,
                           is_replacement=replaced)
    if bulk and rows:
        db.execute(insert(MeterReading.__table__), rows)
        recent_usage.fill(db, MeterReading.meter_id == meter.id)
        db.commit()
    return [(r.taken_at, r.consumption) for r in db.execute(
        select(MeterReading.taken_at, MeterReading.consumption)
        .where(MeterReading.meter_id == meter.id))]


def clean(db) -> None:
    """Remove the example's meters, readings and notifications."""
    for model in (NotificationDelivery, Notification, MeterUsage, MeterReading, Meter):
        db.execute(delete(model))
    db.commit()


@st.composite
def fleet(draw):
    """A scan time and a few meters' readings."""
    now = draw(st.sampled_from(NOWS))
    return now, draw(st.lists(meter_plan(now), min_size=1, max_size=6))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=fleet())
@example(case=(NOWS[0], [[(NOWS[0] - timedelta(days=d, hours=1), 10_000, False)
                          for d in range(20, -1, -1)]
                         + [(NOWS[0] - timedelta(minutes=1), 15_001, False)]]))
@example(case=(NOWS[0], [quarter_days(NOWS[0], stop_hours=9), quarter_days(NOWS[0], stop_hours=-3)]))
def test_scan_flags_exactly_what_the_raw_readings_rule_flags(db, make, case):
    """Random meters (replacements, readings on day and window edges to the microsecond,
    gaps, short histories, readings after the scan's time), half recorded one by one and half
    written in bulk: the scan's alerts are the reference's, and its filter keeps them all."""
    now, plans = case
    w = make.wallet()
    expected, meters = set(), []
    try:
        for i, plan in enumerate(plans):
            m = make.meter(w)
            meters.append(m.id)
            if reference(store(db, m, plan, bulk=i % 2 == 1), now):
                expected.add(m.id)
        kept = set(db.scalars(candidates(min(meters), max(meters), now, window=WINDOW,
                                         baseline=BASELINE, min_history=MIN_HISTORY,
                                         threshold=THRESHOLD)))
        result = run_scan(db, "analyze_high_usage", now=now)
        flagged = set(db.scalars(select(Notification.meter_id)
                                 .where(Notification.id.in_(result.notification_ids))))
        assert expected <= kept
        assert flagged == expected
        assert result.scanned == len(plans)
    finally:
        clean(db)
