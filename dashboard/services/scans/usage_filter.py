"""Which meters the high-usage rule could flag, read from their daily usage, not their readings.

For each meter of a range the scan reads at most three rows of models.MeterDailyUsage: its
latest row up to today (today's or yesterday's, found through `next_day`), yesterday's and the
one of the day the 30-day baseline starts in. From them it bounds, in integer thousandths:

* the consumption of the last 24 h from above, and the baseline's from below, as differences
  of the running total C(t) (all consumption up to time t; it never falls, because
  consumption is never negative). Inside a day with readings at t1 < ... < tk, C(t) is the
  total before the day for t < t1, the total at its end from tk on, and in between at least
  the total before plus the first reading's consumption and at most the total at the end less
  the last one's: exact for days of one or two readings.
* the history, from the meter's first day with a reading.

The rule (high_usage.is_high) flags a meter only if its last 24 h exceed 1.5 times its daily
average, which is at least the baseline over 30 days less half a thousandth of rounding; so
`20 * last_24h + 15 > baseline` (thousandths) holds for every flagged meter, and the scan
needs the readings of only the meters for which it holds with the bounds (and with at least
7 days of history possible). The set returned is
a superset of the flagged meters; high_usage judges each from its readings, so the outcome is
the rule's exactly (tests/test_usage_exact.py compares the two on random readings).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import BigInteger, and_, case, literal, or_, select, type_coerce
from sqlalchemy.orm import aliased

from ...models import MeterDailyUsage


def _units(column):
    """A quantity column as the integer thousandths it stores (no Decimal conversion)."""
    return type_coerce(column, BigInteger)


def _before(day):
    """The running total before the first reading of a day's row."""
    return _units(day.cumulative) - _units(day.consumption)


def _at_most(day, moment: datetime):
    """An upper bound of the running total at `moment`, a time inside the row's day."""
    return case((day.first_at > moment, _before(day)),
                (day.last_at <= moment, _units(day.cumulative)),
                else_=_units(day.cumulative) - _units(day.last_consumption))


def _at_least(day, moment: datetime):
    """A lower bound of the running total at `moment`, a time inside the row's day."""
    return case((day.first_at > moment, _before(day)),
                (day.last_at <= moment, _units(day.cumulative)),
                else_=_before(day) + _units(day.first_consumption))


def candidates(first: int, last: int, now: datetime, *, window: timedelta,
               baseline: timedelta, min_history: timedelta, threshold: Decimal):
    """SELECT of the ids of meters first..last that the rule might flag at `now`."""
    # last_24h > threshold * (baseline / days - 1/2), days <= D, as integers: threshold = p/q.
    p, q = Fraction(threshold).as_integer_ratio()
    d = baseline // timedelta(days=1)
    window_start = now - window
    baseline_start = window_start - baseline
    today = now.astimezone(timezone.utc).date()
    yesterday = window_start.astimezone(timezone.utc).date()
    first_baseline_day = baseline_start.astimezone(timezone.utc).date()
    latest, day_before, oldest = (aliased(MeterDailyUsage) for _ in range(3))
    at_now = case((latest.day == today, _at_most(latest, now)), else_=_units(latest.cumulative))
    # No row yesterday: nothing was read then, so the total stood where today's row starts.
    at_window_start = case((day_before.day.is_(None), _before(latest)),
                           else_=_at_least(day_before, window_start))
    at_baseline_start = case(
        (oldest.day.is_not(None), _at_most(oldest, baseline_start)),
        (latest.first_day > first_baseline_day, literal(0)),  # no reading before it
        else_=at_window_start)  # unknown: bound the baseline by 0
    last_24h = at_now - at_window_start
    baseline_total = at_window_start - at_baseline_start
    return (
        select(latest.meter_id)
        .outerjoin(day_before, and_(day_before.day == yesterday,
                                    day_before.meter_id == latest.meter_id))
        .outerjoin(oldest, and_(oldest.day == first_baseline_day,
                                oldest.meter_id == latest.meter_id))
        .where(latest.day.in_([yesterday, today]), latest.meter_id.between(first, last),
               or_(latest.next_day.is_(None), latest.next_day > today),
               # first reading at or after this day's start: less history than the rule needs
               latest.first_day <= (window_start - min_history).astimezone(timezone.utc).date(),
               last_24h > 0, 2 * q * d * last_24h + p * d > 2 * p * baseline_total)
    )
