"""How alerts and pages name a time: "Sat 02:00" within six days, "Sat 14 Mar 02:00" beyond.

Day and month names are spelled here, never by a locale. The database gets the same words
from calendar_spans, which these functions fill (forecast/sql.py), and its own clock text.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

#: A time within this of now is named by its weekday alone; further off the date is added.
NEAR = timedelta(days=6)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_words(day: date, *, near: bool) -> str:
    """A local date as a time's words begin: "Sat" (near) or "Sat 14 Mar"."""
    if near:
        return DAYS[day.weekday()]
    return f"{DAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"


def clock(local: datetime) -> str:
    """The local clock to the minute, "02:00" (seconds dropped, as in SQL)."""
    return f"{local.hour:02d}:{local.minute:02d}"


def is_near(at: datetime, now: datetime) -> bool:
    """True when `at` is less than NEAR after `now` (whole seconds, as the database counts)."""
    return at - now.replace(microsecond=0) < NEAR


def when_text(at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """A time as alerts and pages name it, in zone `tz`, seen from `now`."""
    local = at.astimezone(tz)
    return f"{day_words(local.date(), near=is_near(at, now))} {clock(local)}"


def both(at: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """(near words, far words) of a time: what calendar_spans keeps of a supply's end."""
    local = at.astimezone(tz)
    return (f"{day_words(local.date(), near=True)} {clock(local)}",
            f"{day_words(local.date(), near=False)} {clock(local)}")
