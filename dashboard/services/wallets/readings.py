"""Meter readings: each new cumulative reading gives the consumption since the previous one."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from ...db import write_transaction
from ...models import Meter, MeterReading
from ..errors import NotFound, ValidationFailed

MAX_READING = Decimal("999999999.999")
_READING_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_reading(value) -> Decimal:
    """A non-negative register value with at most three decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed("Invalid reading.", fields={"reading": "Enter the meter reading."})
    text = str(value).strip()
    # Plain ASCII decimals only: Decimal() also takes "1_000", "١٢" and "1e3".
    if not _READING_RE.fullmatch(text.lstrip("-")):
        text = "invalid"
    try:
        reading = Decimal(text)
    except InvalidOperation:
        raise ValidationFailed("Invalid reading.",
                               fields={"reading": "Enter a number, like 10432.5."}) from None
    # "-0" is not below zero as a Decimal, and was stored as a reading of "-0.000".
    if not reading.is_finite() or reading < 0 or text.startswith("-") or reading > MAX_READING:
        raise ValidationFailed("Invalid reading.",
                               fields={"reading": "Enter a number from 0 to 999,999,999."})
    if reading != reading.quantize(Decimal("0.001")):
        raise ValidationFailed("Invalid reading.",
                               fields={"reading": "Use at most three decimal places."})
    return reading


def parse_time(value, now: datetime) -> datetime:
    """An ISO 8601 time with a zone (or none: now); not in the future."""
    if value in (None, ""):
        return now
    if not isinstance(value, str):
        raise ValidationFailed("Invalid time.", fields={"taken_at": "Use an ISO 8601 time."})
    try:
        taken = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("Invalid time.",
                               fields={"taken_at": "Use an ISO 8601 time, like "
                                                   "2026-11-29T06:00:00+02:00."}) from None
    if taken.tzinfo is None:
        raise ValidationFailed("Invalid time.",
                               fields={"taken_at": "Give a time zone, like +02:00 or Z."})
    try:
        taken = taken.astimezone(timezone.utc)
    except OverflowError:
        # 0001-01-01T00:00+14:00 is a valid ISO time whose UTC falls before year 1: it was a
        # 500 (tests/test_bad_input.py, the readings body).
        raise ValidationFailed("Invalid time.",
                               fields={"taken_at": "Use a time between the years 1 and 9999."}
                               ) from None
    if taken > now:
        raise ValidationFailed("Invalid time.", fields={"taken_at": "The time is in the future."})
    return taken


def record_reading(session, meter_id: int, reading, taken_at=None, *, now: datetime,
                   is_replacement: bool = False) -> MeterReading:
    """Store a reading and its consumption since the last one.

    A reading below the previous one is refused unless flagged as a meter replacement, in
    which case the new register counts from zero (consumption = the new reading).
    """
    value = parse_reading(reading)
    taken = parse_time(taken_at, now)
    if not isinstance(is_replacement, bool):
        raise ValidationFailed("Invalid flag.", fields={"is_replacement": "Use true or false."})
    with write_transaction(session):
        if session.get(Meter, meter_id) is None:
            raise NotFound("No such meter.")
        last = session.scalars(select(MeterReading).where(MeterReading.meter_id == meter_id)
                               .order_by(MeterReading.taken_at.desc()).limit(1)).first()
        if last is not None and taken <= last.taken_at:
            raise ValidationFailed("Readings must be newer than the last one.",
                                   fields={"taken_at": f"The last reading was taken at "
                                                       f"{last.taken_at.isoformat()}."})
        if is_replacement or last is None:
            consumption = value if is_replacement else Decimal(0)
        elif value < last.reading:
            raise ValidationFailed(
                "The reading is lower than the last one.",
                fields={"reading": f"The last reading was {last.reading}. If the meter was "
                                   f"replaced, send is_replacement: true."})
        else:
            consumption = value - last.reading
        row = MeterReading(meter_id=meter_id, reading=value, consumption=consumption,
                           taken_at=taken, is_replacement=is_replacement, created_at=now)
        session.add(row)
    return row
