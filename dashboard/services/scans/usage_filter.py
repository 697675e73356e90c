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

Each bound is checked twice: first from the day totals alone (cheap, and enough to rule out
most meters), then with the reading times.

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


def _at_most(moment: datetime):
    """Upper bound of the running total at `moment`, a time on the row's `day`."""
    return case((U.first_at > moment, _units(U.total_at_1)),
                (U.last_at <= moment, _units(U.total)),
                else_=_units(U.total) - _units(U.last_consumption))


def _at_least(moment: datetime):
    """Lower bound of the running total at `moment`, a time on the row's `day`."""
    return case((U.first_at > moment, _units(U.total_at_1)),
                (U.last_at <= moment, _units(U.total)),
                else_=_units(U.total_at_1) + _units(U.first_consumption))


def _prior_at_least(moment: datetime):
    """Lower bound of the running total at `moment`, a time on the day before the row's."""
    return case((or_(U.prior_first_at.is_(None), U.prior_last_at <= moment),
                 _units(U.total_at_1)),  # nothing read that day after `moment`
                (U.prior_first_at > moment, _units(U.total_at_2)),
                else_=_units(U.total_at_2) + _units(U.prior_first_consumption))


def candidates(first: int, last: int, now: datetime, *, window: timedelta,
               baseline: timedelta, min_history: timedelta, threshold: Decimal):
    """SELECT of the ids of meters first..last that the rule might flag at `now`."""
    window_start = now - window
    today = now.astimezone(timezone.utc).date()
    yesterday = window_start.astimezone(timezone.utc).date()
    # last_24h > threshold * (baseline / days - 1/2), days <= D, as integers with
    # threshold = p/q:  2qd * C(now) + pd + 2p * C(baseline start) > (2qd + 2p) * C(window
    # start), with C(now) and C(baseline start) at most, C(window start) at least, their bounds.
    p, q = Fraction(threshold).as_integer_ratio()
    d = baseline // timedelta(days=1)

    def could_flag(at_now, at_window_start, at_baseline_start):
        """The inequality above."""
        return (2 * q * d * at_now + p * d + 2 * p * at_baseline_start
                > (2 * q * d + 2 * p) * at_window_start)

    total = _units(U.total)
    # Read today: the window starts yesterday (the row's day before), the baseline 31 days
    # before today. Read last yesterday: the window starts on the row's day, the baseline 30
    # days before it. First with the day totals and the last reading's time alone (something
    # read in the window, and the inequality), then with the other reading times.
    prior_ended = case((U.prior_last_at <= window_start, _units(U.total_at_1)),
                       else_=_units(U.total_at_2))
    read_today = and_(
        U.day == today, U.total > U.total_at_2,
        could_flag(total, prior_ended, _units(U.total_at_31)),
        could_flag(_at_most(now), _prior_at_least(window_start), _units(U.total_at_31)))
    ended = case((U.last_at <= window_start, total), else_=_units(U.total_at_1))
    read_yesterday = and_(
        U.day == yesterday, U.total > U.total_at_1,
        could_flag(total, ended, _units(U.total_at_30)),
        could_flag(total, _at_least(window_start), _units(U.total_at_30)))
    return select(U.meter_id).where(
        U.meter_id.between(first, last),
        or_(U.day > today,  # read again since the scan began: judged from the readings
            and_(U.first_day <= (window_start - min_history).astimezone(timezone.utc).date(),
                 or_(read_today, read_yesterday))))
