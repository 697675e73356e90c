"""The scans' schedule in words and the next run time, in the local time zone."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab

DESCRIPTIONS = {
    "check_low_credit_wallets": "Daily at 06:00",
    "check_critical_credit_wallets": "Every 4 hours (00:00, 04:00, 08:00, …)",
    "analyze_high_usage": "Daily at 07:00",
}


def next_run(schedule: crontab, now: datetime, tz: str) -> datetime:
    """The next local time after `now` at which `schedule` fires.

    Walks forward a minute at a time over the crontab's fields: at most a week of minutes,
    cheap enough for three scans on a page, and exact across daylight-saving changes.
    """
    candidate = now.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
    for _ in range(60 * 24 * 8):
        candidate += timedelta(minutes=1)
        if (candidate.minute in schedule.minute and candidate.hour in schedule.hour
                and candidate.isoweekday() % 7 in schedule.day_of_week
                and candidate.day in schedule.day_of_month
                and candidate.month in schedule.month_of_year):
            return candidate
    raise ValueError("the schedule never fires")
