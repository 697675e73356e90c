"""Meter readings: each new cumulative reading gives the consumption since the previous one."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from ...db import write_transaction
from ...models import Meter, MeterReading
from ..errors import NotFound, ValidationFailed
from ..patterns import SPACE
from .recent_usage import add_reading

MAX_READING = Decimal("999999999.999")
READING_PLACES = 3  # a register shows thousandths of a kWh or kL
_WHOLE_DIGITS = len(str(int(MAX_READING)))
if MAX_READING != Decimal(10**_WHOLE_DIGITS) - Decimal(1).scaleb(-READING_PLACES):
    raise ValueError("READING_PATTERN assumes MAX_READING is all nines")  # pragma: no cover
_FRACTION = f"(?:\\.[0-9]{{1,{READING_PLACES}}})?"
_READING_RE = re.compile(f"{SPACE}([0-9]+{_FRACTION}){SPACE}")
#: The texts parse_reading accepts, as the API's document quotes them: up to nine whole
#: digits (after any leading zeros) and three decimals, ASCII whitespace around.
READING_PATTERN = f"^{SPACE}0*[0-9]{{1,{_WHOLE_DIGITS}}}{_FRACTION}{SPACE}$"


def parse_reading(value) -> Decimal:
    """A non-negative register value with at most three decimals, from text matching
    READING_PATTERN or (for callers in code) a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed("Invalid reading.", fields={"reading": "Enter the meter reading."})
    # Plain ASCII decimals only: Decimal() also takes "1_000", "١٢" and "1e3".
    match = _READING_RE.fullmatch(str(value))
    if not match:
        text = str(value).strip(" \t\r\n")
        if re.fullmatch(r"[0-9]+\.[0-9]+", text):
            message = "Use at most three decimal places."
        elif text.startswith("-") and re.fullmatch(r"[0-9]+(\.[0-9]+)?", text[1:]):
            # "-0" is not below zero as a Decimal, and was stored as a reading of "-0.000".
            message = "Enter a number from 0 to 999,999,999."
        else:
            message = "Enter a number, like 10432.5."
        raise ValidationFailed("Invalid reading.", fields={"reading": message})
    reading = Decimal(match.group(1))  # exact: compared before any rounding
    if reading > MAX_READING:
        raise ValidationFailed("Invalid reading.",
                               fields={"reading": "Enter a number from 0 to 999,999,999."})
    return reading


def parse_time(value, now: datetime) -> datetime:
    """An ISO 8601 time with a zone (or none: now); not in the future."""
    if value in (None, ""):
        return now
    if not isinstance(value, str):
        raise ValidationFailed("Invalid time.", fields={"taken_at": "Use an ISO 8601 time."})
    try:
        # RFC 3339 writes UTC as "Z" or "z"; fromisoformat does not read "z".
        text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
        taken = datetime.fromisoformat(text)
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
    which case the new register counts from zero (consumption = the new reading). A reading
    not newer than the meter's last is refused too, so its recent usage (recent_usage) only
    ever moves forward.
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
        add_reading(session, meter_id, taken, consumption)
    return row
