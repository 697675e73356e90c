"""Which meters the high-usage rule could flag, read from one row per meter (models.MeterUsage),
not from their readings.

The running total C(t), all of a meter's consumption up to time t, never falls (consumption is
never negative). Inside a day with readings at t1 < ... < tk it is the total before the day
for t < t1 and the total at its end from tk on; in between, at least the total before plus
the first reading's consumption and at most the total at the end less the last one's: exact
for a day of one or two readings. From the row of a meter last read today or yesterday (UTC)
the scan bounds, in integer thousandths:

* the last 24 h from above: C(now) - C(now - 24 h), the upper bound of the first less the
  lower bound of the second (from yesterday's first and last readings);
* the 30-day baseline from below: C(now - 24 h) - C(now - 24 h - 30 days), the second term at
  most the total at the end of its day, which the row keeps;
* the history: the first reading is on or after `first_day`.

The rule (high_usage.is_high) flags a meter only if its last 24 h exceed 1.5 times its daily
average, which is at least the baseline over 30 days less half a thousandth of rounding; so
`20 * last_24h + 15 > baseline` (thousandths) holds for every flagged meter, with at least 7
days of history possible. A meter failing that with the bounds cannot be flagged; the rest
(the flagged ones and a few near them) are judged from their readings by high_usage, so the
outcome is the rule's exactly (tests/test_usage_exact.py compares the two on random readings).
A meter with a reading on a later day than the scan's (a reading that came in during the run)
is always judged from its readings.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import BigInteger, and_, case, or_, select, type_coerce

from ...models import MeterUsage

U = MeterUsage.__table__.c


def _units(column):
    """A quantity column as the integer thousandths it stores (no Decimal conversion)."""
    return type_coerce(column, BigInteger)


def candidates(first: int, last: int, now: datetime, *, window: timedelta,
               baseline: timedelta, min_history: timedelta, threshold: Decimal):
    """SELECT of the ids of meters first..last that the rule might flag at `now`."""
    window_start = now - window
    today = now.astimezone(timezone.utc).date()
    yesterday = window_start.astimezone(timezone.utc).date()
    total, before = _units(U.total), _units(U.total) - _units(U.consumption)
    read_today = U.day == today
    # Yesterday's row: today's `prior_*`, or the row itself when last read yesterday.
    prior_before = before - _units(U.prior_consumption)
    read_yesterday = U.prior_first_at.is_not(None)
    at_yesterday_start = case((and_(read_today, read_yesterday), prior_before), else_=before)
    at_now = case(
        (~read_today, total),
        (U.first_at > now, before),
        (U.last_at <= now, total),
        else_=total - _units(U.last_consumption))
    at_window_start = case(
        (and_(read_today, ~read_yesterday), before),  # nothing read yesterday
        (read_today, case((U.prior_first_at > window_start, prior_before),
                          (U.prior_last_at <= window_start, before),
                          else_=prior_before + _units(U.prior_first_consumption))),
        (U.first_at > window_start, before),
        (U.last_at <= window_start, total),
        else_=before + _units(U.first_consumption))
    # The baseline starts on the day 31 days before today: its end is 31 days before the row's
    # day when read today, 30 when last read yesterday.
    at_baseline_start = case((read_today, _units(U.total_at_31)), else_=_units(U.total_at_30))
    # last_24h > threshold * (baseline / days - 1/2), days <= D, as integers: threshold = p/q;
    # first with the day-level bounds (no time compared), then with the reading times.
    p, q = Fraction(threshold).as_integer_ratio()
    d = baseline // timedelta(days=1)
    rough_24h = total - at_yesterday_start
    rough_baseline = at_yesterday_start - at_baseline_start
    return select(U.meter_id).where(
        U.meter_id.between(first, last),
        or_(U.day > today, and_(
            U.day.in_([yesterday, today]),
            U.first_day <= (window_start - min_history).astimezone(timezone.utc).date(),
            rough_24h > 0,
            2 * q * d * rough_24h + p * d > 2 * p * rough_baseline,
            2 * q * d * at_now + p * d + 2 * p * at_baseline_start
            > (2 * q * d + 2 * p) * at_window_start)))
