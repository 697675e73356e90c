"""What the demo should show at once: the demo residents' wallets run out inside friendly
hours (the first one's inside the coming long weekend with a public holiday), and a few
meters have gone silent.

The balances are set from each wallet's month of purchases, so that now + balance ÷ average
daily spend (the forecast, services/forecast) lands in the middle of the chosen run of
friendly hours; as time passes the forecast moves on with now, and the middle of a run of a
night or a weekend keeps it inside for hours or days.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..forecast.calendar import FriendlyHours, public_holidays, runs
from ..forecast.runout import WINDOW_SECONDS

ZONE = "Africa/Johannesburg"  # the demo estates are South African
SILENT_SHARE = 0.01  # metered units whose electricity meter stopped reporting
SILENT_FOR = timedelta(days=3)  # longer than the default 48 hours


def _runs(now: datetime, days: int = 120) -> list[tuple[datetime, datetime]]:
    """The runs of default friendly hours in the demo zone starting after now."""
    hours = FriendlyHours(ZONE)
    return [(lo, hi) for lo, hi in runs(hours, now, now + timedelta(days=days)) if lo > now]


def holiday_run(now: datetime) -> tuple[datetime, datetime]:
    """The next run of friendly hours over a public holiday and a weekend (a long weekend),
    else the next weekend."""
    tz = FriendlyHours(ZONE).tz
    found = _runs(now)
    for lo, hi in found:
        days = {(lo + timedelta(days=k)).astimezone(tz).date()
                for k in range(int((hi - lo).total_seconds() // 86400) + 1)}
        if any(d in public_holidays(d.year) for d in days) and hi - lo > timedelta(days=2):
            return lo, hi
    return max(found[:7], key=lambda run: run[1] - run[0])


def next_run(now: datetime) -> tuple[datetime, datetime]:
    """The next run of friendly hours (tonight's, usually)."""
    return _runs(now)[0]


def balance_for(run: tuple[datetime, datetime], now: datetime):
    """A function of a month's spend (cents) giving the balance (cents) whose credit runs
    out in the middle of `run`."""
    lo, hi = run
    seconds = ((lo + (hi - lo) / 2) - now).total_seconds()
    return lambda spent: math.ceil(seconds * spent / WINDOW_SECONDS)
