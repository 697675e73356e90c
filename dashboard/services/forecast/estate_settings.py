"""An estate's friendly hours, time zone, meter silence limit and SMS delay: checked, their
effect previewed ("this would change the run-out time shown to 1,240 residents"), saved.

The preview is set-based: Python compares the supply's end under the old and the new
settings over the next year and finds the stretches of run-out times where they differ;
one count then finds the estate's wallets running out inside those stretches (by their
stored credit_seconds), and the residents who would see another time on their page.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from sqlalchemy import and_, false, func, or_, select, update

from ...db import write_transaction
from ...models import Estate, Unit, Wallet
from ..channels.preferences import hhmm, parse_time
from ..errors import ValidationFailed
from ..notifications.store import recipients_query
from . import sql as forecast_sql
from .calendar import FriendlyHours, spans

FIELDS = ("friendly_hours", "friendly_start", "friendly_end", "friendly_weekends",
          "friendly_holidays", "timezone", "meter_silent_hours", "sms_delay_minutes")
SILENT_HOURS = (1, 24 * 30)  # an hour to a month
SMS_DELAY = (0, 24 * 60)  # at once to a day
PREVIEW = timedelta(days=366)  # how far ahead the preview compares run-outs
ZONE_MESSAGE = "Enter a time zone like Africa/Johannesburg."
TRUE = ("1", "on", "true", "y", "yes", True)


@dataclass(frozen=True)
class EstateHours:
    """The checked values of an estate's friendly hours and the settings beside them."""

    friendly_hours: bool
    friendly_start: int
    friendly_end: int
    friendly_weekends: bool
    friendly_holidays: bool
    timezone: str | None
    meter_silent_hours: int
    sms_delay_minutes: int

    @classmethod
    def of(cls, estate: Estate) -> EstateHours:
        """What the estate has now."""
        return cls(*(getattr(estate, name) for name in FIELDS))

    def hours(self, default_zone: str) -> FriendlyHours:
        """The friendly hours these settings give."""
        return FriendlyHours(self.timezone or default_zone, self.friendly_hours,
                             self.friendly_start, self.friendly_end, self.friendly_weekends,
                             self.friendly_holidays)

    def form_data(self) -> dict:
        """The values as a form shows them."""
        return {"friendly_hours": self.friendly_hours, "friendly_start": hhmm(self.friendly_start),
                "friendly_end": hhmm(self.friendly_end),
                "friendly_weekends": self.friendly_weekends,
                "friendly_holidays": self.friendly_holidays, "timezone": self.timezone or "",
                "meter_silent_hours": str(self.meter_silent_hours),
                "sms_delay_minutes": str(self.sms_delay_minutes)}


def _whole(value, field: str, low: int, high: int, errors: dict, unit: str) -> int:
    """A whole number from `low` to `high`, or an error beside `field`."""
    text = value.strip() if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit() and len(text) < 9) or not low <= int(text) <= high:
        errors[field] = f"Enter a whole number of {unit} from {low:,} to {high:,}."
        return low
    return int(text)


def validate_hours(data: dict) -> EstateHours:
    """The settings as sent (form fields: checkboxes ticked or not, times "18:00", numbers
    as typed); ValidationFailed naming every bad field at once."""
    errors: dict[str, str] = {}
    times = {}
    for name in ("friendly_start", "friendly_end"):
        try:
            times[name] = parse_time(data.get(name), name)
        except ValidationFailed as exc:
            errors.update(exc.fields)
            times[name] = 0
    zone = (data.get("timezone") or "").strip() if isinstance(data.get("timezone"), str) else ""
    if zone and zone not in available_timezones():
        errors["timezone"] = ZONE_MESSAGE
    silent = _whole(data.get("meter_silent_hours"), "meter_silent_hours", *SILENT_HOURS, errors,
                    "hours")
    delay = _whole(data.get("sms_delay_minutes"), "sms_delay_minutes", *SMS_DELAY, errors,
                   "minutes")
    if errors:
        raise ValidationFailed("Some settings are not valid.", fields=errors)
    return EstateHours(data.get("friendly_hours") in TRUE, times["friendly_start"],
                       times["friendly_end"], data.get("friendly_weekends") in TRUE,
                       data.get("friendly_holidays") in TRUE, zone or None, silent, delay)


@dataclass
class HoursImpact:
    """What new friendly hours would change: wallets whose shown supply end would move, the
    residents who would see it."""

    wallets: int = 0
    residents: int = 0


def changed_stretches(old: FriendlyHours, new: FriendlyHours, start: datetime,
                      end: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches of run-out times in [start, end) whose supply end (or its local words,
    when the zone changes) differs between `old` and `new` friendly hours."""
    if old == new:
        return []
    if old.zone != new.zone:
        return [(start, end)]
    a, b = spans(old, start, end), spans(new, start, end)
    out: list[tuple[datetime, datetime]] = []
    i = j = 0
    cursor = start
    while i < len(a) and j < len(b):
        upto = min(a[i].ends_at, b[j].ends_at)
        if a[i].supply_until != b[j].supply_until:
            if out and out[-1][1] == cursor:
                out[-1] = (out[-1][0], upto)
            else:
                out.append((cursor, upto))
        cursor = upto
        if a[i].ends_at == upto:
            i += 1
        if b[j].ends_at == upto:
            j += 1
    return out


def preview_hours(session, estate: Estate, values: EstateHours, now: datetime,
                  default_zone: str) -> HoursImpact:
    """How many of the estate's wallets (and their residents) would be shown another
    run-out or supply time with `values`: one count over its wallets' stored credit_seconds
    falling in the stretches that change (changed_stretches)."""
    start = now.replace(microsecond=0)
    stretches = changed_stretches(EstateHours.of(estate).hours(default_zone),
                                  values.hours(default_zone), start, start + PREVIEW)
    if not stretches:
        return HoursImpact()
    seconds = [((lo - start).total_seconds(), (hi - start).total_seconds())
               for lo, hi in stretches]
    moved = or_(false(), *(and_(Wallet.credit_seconds >= int(lo), Wallet.credit_seconds < int(hi))
                           for lo, hi in seconds))
    wallets = (select(Wallet.id).join(Unit, Unit.id == Wallet.unit_id)
               .where(Unit.estate_id == estate.id, moved))
    count = session.scalar(select(func.count()).select_from(wallets.subquery())) or 0
    people = recipients_query(now.date()).subquery()
    residents = session.scalar(select(func.count(func.distinct(people.c.user_id)))
                               .where(people.c.wallet_id.in_(wallets))) or 0
    return HoursImpact(count, residents)


def save_hours(session, estate_id: int, values: EstateHours, now: datetime,
               default_zone: str) -> Estate:
    """Store the settings; new friendly hours or zone remake the estate's calendar at once
    (the scans read it), in the same transaction."""
    with write_transaction(session):
        estate = session.get(Estate, estate_id, populate_existing=True)
        calendar_changed = (EstateHours.of(estate).hours(default_zone)
                            != values.hours(default_zone))
        session.execute(update(Estate).where(Estate.id == estate_id).values(
            **{name: getattr(values, name) for name in FIELDS}))
        if calendar_changed:
            forecast_sql.invalidate_calendar(session, estate_id)
            forecast_sql.ensure_calendars(session, now, default_zone)
    return session.get(Estate, estate_id, populate_existing=True)
