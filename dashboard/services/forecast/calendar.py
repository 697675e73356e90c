"""Friendly hours: when an estate's meters keep the supply on whatever the credit, in local time.

An estate's friendly hours (its settings, default on) are a daily window (18:00–07:00: start
after end spans midnight, start equal to end is none), all of Saturday and Sunday, and South
Africa's public holidays (the holidays package, observed days included), in the estate's time
zone. Adjacent friendly stretches are one: a Friday's 18:00 runs through the weekend to
Monday 07:00, and on to Tuesday 07:00 when Monday is a public holiday. A run-out inside such
a run keeps the supply on until it ends.

Two ways to the same answer, tested to agree: `supply_until` walks the calendar from one
instant (the pages, in Python), and `spans` cuts a stretch of time into the pieces the
database keeps in calendar_spans (the scans, in SQL: services/forecast/sql.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DAY_MINUTES = 24 * 60
#: The zone of estates without their own when no other is given (config CELERY_TIMEZONE).
DEFAULT_ZONE = "Africa/Johannesburg"
SECOND = timedelta(seconds=1)
#: A run of friendly hours is never longer than this (a long weekend with holidays either
#: side); the walk and the spans look this far ahead.
LONGEST_RUN = timedelta(days=21)


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[date]:
    """South Africa's public holidays of `year`, with the Mondays that replace a Sunday."""
    return frozenset(holidays.country_holidays("ZA", years=year))


@dataclass(frozen=True)
class FriendlyHours:
    """An estate's friendly hours: on or off, the daily window (minutes after local midnight),
    weekends, public holidays, and its time zone."""

    zone: str
    on: bool = True
    start: int = 18 * 60
    end: int = 7 * 60
    weekends: bool = True
    holidays: bool = True

    @classmethod
    def of(cls, estate, default_zone: str) -> FriendlyHours:
        """The settings of an Estate row (its zone, or `default_zone` when it has none)."""
        return cls(zone=estate.timezone or default_zone, on=estate.friendly_hours,
                   start=estate.friendly_start, end=estate.friendly_end,
                   weekends=estate.friendly_weekends, holidays=estate.friendly_holidays)

    @property
    def tz(self) -> ZoneInfo:
        """The estate's time zone."""
        return ZoneInfo(self.zone)

    def all_day(self, day: date) -> bool:
        """True for a local date that is friendly from midnight to midnight."""
        return self.on and ((self.weekends and day.weekday() >= 5)
                            or (self.holidays and day in public_holidays(day.year)))

    def windows(self, day: date) -> list[tuple[int, int]]:
        """The friendly minutes [a, b) of a local date, in order."""
        if not self.on:
            return []
        if self.all_day(day):
            return [(0, DAY_MINUTES)]
        if self.start > self.end:
            return ([(0, self.end)] if self.end else []) + [(self.start, DAY_MINUTES)]
        if self.start < self.end:
            return [(self.start, self.end)]
        return []

    def instant(self, day: date, minute: int) -> datetime:
        """The UTC instant of `minute` after the local midnight of `day` (minute 1440 is the
        next midnight). A local time the clocks skip or repeat takes the offset before the
        change (fold 0), in both ways of computing."""
        local = datetime.combine(day, time()) + timedelta(minutes=minute)
        return local.replace(tzinfo=self.tz).astimezone(timezone.utc)

    def window_at(self, at: datetime) -> datetime | None:
        """The end (UTC) of the friendly window holding instant `at`, or None outside them."""
        local = at.astimezone(self.tz)
        second = local.hour * 3600 + local.minute * 60 + local.second
        for a, b in self.windows(local.date()):
            if a * 60 <= second < b * 60:
                return self.instant(local.date(), b)
        return None

    def is_friendly(self, at: datetime) -> bool:
        """True when instant `at` falls inside friendly hours."""
        return self.window_at(at) is not None


def supply_until(at: datetime, hours: FriendlyHours) -> datetime:
    """When the supply is cut for credit that runs out at `at`: `at` itself outside friendly
    hours, else the end of the run of friendly hours holding it (window after window while
    the next one starts where the last ended)."""
    end = at
    for _ in range(200):  # a run is days long; a settings loop can never hold it forever
        following = hours.window_at(end)
        if following is None or following <= end:
            return end
        end = following
    return end


@dataclass(frozen=True)
class Span:
    """A stretch [starts_at, ends_at) within one local day, with one UTC offset (minutes),
    inside friendly hours (supply_until: the end of their run) or outside (None)."""

    starts_at: datetime
    ends_at: datetime
    utc_offset: int
    day: date
    supply_until: datetime | None = None


def offset_minutes(at: datetime, tz: ZoneInfo) -> int:
    """Minutes east of UTC in zone `tz` at instant `at`."""
    return int(at.astimezone(tz).utcoffset() // timedelta(minutes=1))


def runs(hours: FriendlyHours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The runs of friendly hours (UTC, merged where one starts as another ends) that touch
    [start, end), whole even where they reach beyond it."""
    first = start.astimezone(hours.tz).date() - timedelta(days=1)
    last = (end + LONGEST_RUN).astimezone(hours.tz).date()
    merged: list[list[datetime]] = []
    day = first
    while day <= last:
        for a, b in hours.windows(day):
            lo, hi = hours.instant(day, a), hours.instant(day, b)
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            elif lo < hi:
                merged.append([lo, hi])
        day += timedelta(days=1)
    return [(lo, hi) for lo, hi in merged if hi > start and lo < end]


def spans(hours: FriendlyHours, start: datetime, end: datetime) -> list[Span]:
    """[start, end) cut into spans at every local midnight, every edge of friendly hours and
    every clock change, without gaps: what calendar_spans holds for an estate. Times in
    whole seconds."""
    start, end = _whole(start), _whole(end)
    pieces: list[tuple[datetime, datetime, datetime | None]] = []
    cursor = start
    for lo, hi in runs(hours, start, end):
        if lo > cursor:
            pieces.append((cursor, lo, None))
        pieces.append((max(lo, cursor), min(hi, end), hi))
        cursor = min(hi, end)
    if cursor < end:
        pieces.append((cursor, end, None))
    tz = hours.tz
    out = []
    for lo, hi, run_end in pieces:
        for a, b in _days(lo, hi, hours):
            for c, d in _same_offset(a, b, tz):
                out.append(Span(c, d, offset_minutes(c, tz), c.astimezone(tz).date(), run_end))
    return out


def _days(lo: datetime, hi: datetime, hours: FriendlyHours) -> list[tuple[datetime, datetime]]:
    """[lo, hi) cut at each local midnight inside it."""
    pieces = []
    day = lo.astimezone(hours.tz).date()
    while True:
        day += timedelta(days=1)
        midnight = hours.instant(day, 0)
        if midnight >= hi:
            break
        if midnight > lo:
            pieces.append((lo, midnight))
            lo = midnight
    pieces.append((lo, hi))
    return pieces


def _same_offset(lo: datetime, hi: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[lo, hi) cut where the zone's offset changes (found to the second by halving)."""
    pieces = []
    while offset_minutes(lo, tz) != offset_minutes(hi - SECOND, tz):
        before, after = lo, hi - SECOND  # offset(before) is lo's, offset(after) is not
        while after - before > SECOND:
            middle = before + (after - before) // 2
            middle = _whole(middle)
            if offset_minutes(middle, tz) == offset_minutes(lo, tz):
                before = middle
            else:
                after = middle
        pieces.append((lo, after))
        lo = after
    pieces.append((lo, hi))
    return pieces


def _whole(at: datetime) -> datetime:
    """`at` without its fraction of a second."""
    return at.replace(microsecond=0)
