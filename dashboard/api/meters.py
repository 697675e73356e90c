"""Meter readings (operators)."""
from __future__ import annotations

from flask import jsonify

from ..db import Session
from ..models import utcnow
from ..services.serialize import iso
from ..services.wallets.readings import record_reading
from .helpers import operator_only
from .schemas import READING_IN, TIME, nullable, ref
from .spec import Body, Field, route

READING_BODY = Body(
    reading=Field(READING_IN, required=True, message="Enter a number, like 10432.5."),
    taken_at=Field({**nullable(TIME), "description": "When it was read (default: now); not in "
                    "the future and after the meter's last reading."},
                   message="Use an ISO 8601 time, like 2026-11-29T06:00:00+02:00."),
    is_replacement=Field({"type": "boolean", "default": False, "description":
                          "A new meter: the register counts from zero again."}))


@route("POST", "/meters/{meter_id}/readings", summary="Record a meter reading (operators)",
       body=READING_BODY, answers={201: ref("Reading")},
       description="422 also for a reading lower than the last one (unless is_replacement) "
                   "or taken before it.")
@operator_only
def create_reading(meter_id: int):
    """Record {reading, taken_at, is_replacement?}; a reading going backwards is refused."""
    data = READING_BODY.read()
    row = record_reading(Session, meter_id, data["reading"], data.get("taken_at"),
                         now=utcnow(), is_replacement=data.get("is_replacement", False))
    return jsonify(id=row.id, meter_id=row.meter_id, reading=f"{row.reading:.3f}",
                   consumption=f"{row.consumption:.3f}", taken_at=iso(row.taken_at),
                   is_replacement=row.is_replacement), 201
