"""Meter readings (operators)."""
from __future__ import annotations

from flask import jsonify

from ..db import Session
from ..models import utcnow
from ..services.serialize import iso
from ..services.wallets.readings import record_reading
from . import bp
from .helpers import ID, json_body, operator_only, require


@bp.post(f"/meters/<{ID}:meter_id>/readings")
@operator_only
def create_reading(meter_id: int):
    """Record {reading, taken_at, is_replacement?}; a reading going backwards is refused."""
    data = json_body()
    require(data, "reading")
    row = record_reading(Session, meter_id, data["reading"], data.get("taken_at"),
                         now=utcnow(), is_replacement=data.get("is_replacement", False))
    return jsonify(id=row.id, meter_id=row.meter_id, reading=f"{row.reading:.3f}",
                   consumption=f"{row.consumption:.3f}", taken_at=iso(row.taken_at),
                   is_replacement=row.is_replacement), 201
