"""Silent meters: a meter that sent no reading for its estate's meter_silent_hours (default
48), told to the operators once per silence (scan check_silent_meters, daily 08:00).

A pass over a range of meter ids first refreshes each meter's silent_since (the time of its
last reading while it is silent, cleared once it reports again or the estate allows it
longer), set-based, reading the last reading through the (meter_id, taken_at) index; then
notifies every silent meter of the range. The key names the meter and its last reading
before the silence, so a meter is told once however often the scan runs or races, and again
only after its next reading has come and gone silent in turn. Meters that never reported
are left alone (a new or unfitted meter is not a silent one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select, update

from ...models import Estate, Meter, MeterReading, Unit, Wallet
from .. import notifications
from ..forecast import words
from ..notifications import messages
from ..serialize import iso
from ..sqlfuncs import add_hours

KIND = "meter_silent"


@dataclass
class SilentPass:
    """What one pass over a range of meters did."""

    scanned: int = 0
    silent: int = 0
    notification_ids: list[int] = field(default_factory=list)

    @property
    def notified(self) -> int:
        """Notifications this pass stored."""
        return len(self.notification_ids)

    @property
    def skipped(self) -> int:
        """Silent meters already told about this silence."""
        return self.silent - self.notified


def _silent_hours():
    """Correlated on meters: the meter_silent_hours of the meter's estate."""
    return (select(Estate.meter_silent_hours).join(Unit, Unit.estate_id == Estate.id)
            .where(Unit.id == Meter.unit_id).correlate(Meter).scalar_subquery())


def _last_reading_at():
    """Correlated on meters: the time of the meter's last reading (one index seek)."""
    return (select(func.max(MeterReading.taken_at)).where(MeterReading.meter_id == Meter.id)
            .correlate(Meter).scalar_subquery())


def refresh_silence(session, where, now: datetime) -> None:
    """Clear silent_since of meters that reported since (or whose estate now allows longer),
    and set it on meters whose last reading is older than their estate's limit."""
    hours = _silent_hours()
    newer = exists(select(MeterReading.id).where(MeterReading.meter_id == Meter.id,
                                                 MeterReading.taken_at > Meter.silent_since))
    session.execute(update(Meter).where(where, Meter.silent_since.is_not(None),
                                        or_(newer, add_hours(Meter.silent_since, hours) > now))
                    .values(silent_since=None).execution_options(synchronize_session=False))
    last = _last_reading_at()
    session.execute(update(Meter).where(where, Meter.silent_since.is_(None), last.is_not(None),
                                        add_hours(last, hours) <= now)
                    .values(silent_since=_last_reading_at())
                    .execution_options(synchronize_session=False))


def silent_pass(session, kind: str, first: int, last: int, *, now: datetime, tz: str,
                task_run_id: int | None = None) -> SilentPass:
    """One chunk of check_silent_meters: the meters with ids first..last (`kind` is always
    meter_silent; `tz` the zone of estates without their own)."""
    where = Meter.id.between(first, last)
    found = SilentPass()
    found.scanned = session.scalar(select(func.count()).select_from(Meter).where(where)) or 0
    refresh_silence(session, where, now)
    last_reading = (select(MeterReading.id).where(MeterReading.meter_id == Meter.id)
                    .order_by(MeterReading.taken_at.desc(), MeterReading.id.desc()).limit(1)
                    .correlate(Meter).scalar_subquery())
    rows = session.execute(
        select(Meter.id, Meter.serial, Meter.utility, Meter.silent_since, last_reading,
               Unit.number, Estate.name, Estate.timezone, Estate.meter_silent_hours, Wallet.id)
        .join(Unit, Unit.id == Meter.unit_id).join(Estate, Estate.id == Unit.estate_id)
        .outerjoin(Wallet, Wallet.unit_id == Unit.id)
        .where(where, Meter.silent_since.is_not(None)).order_by(Meter.id)).all()
    found.silent = len(rows)
    pending = []
    for meter_id, serial, utility, since, reading_id, number, estate, zone, hours, wallet_id in rows:
        local = since.astimezone(ZoneInfo(zone or tz))
        said = f"{words.day_words(local.date(), near=False)} {words.clock(local)}"
        pending.append(notifications.notification_row(
            KIND, messages.METER_SILENT_TITLE,
            messages.meter_silent(f"{number}, {estate}", utility, serial, said, hours),
            dedup_key=f"{KIND}:{meter_id}:{reading_id}", now=now, wallet_id=wallet_id,
            meter_id=meter_id, task_run_id=task_run_id,
            data={"meter_id": meter_id, "serial": serial, "utility": utility,
                  "last_reading_at": iso(since), "since": said, "silent_hours": hours,
                  "task_run_id": task_run_id}))
    found.notification_ids = notifications.store(session, pending)
    return found
