"""Meters and their readings."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .common import utcnow
from .estate import Unit
from .types import Quantity, UTCDateTime

SILENT = text("silent_since IS NOT NULL")


class Meter(Base):
    """One utility meter of a unit."""

    __tablename__ = "meters"
    # The silent meters (few): the wallet list's filter and the digest find them here.
    __table_args__ = (Index("ix_meters_silent_unit", "unit_id", sqlite_where=SILENT,
                            postgresql_where=SILENT),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    utility: Mapped[str] = mapped_column(String(12))
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    # The time of its last reading, while check_silent_meters finds it silent (no reading for
    # its estate's meter_silent_hours); None otherwise. Refreshed by every run of that scan.
    silent_since: Mapped[datetime | None] = mapped_column(UTCDateTime())

    unit: Mapped[Unit] = relationship()


class MeterReading(Base):
    """A cumulative register reading and the consumption since the meter's previous reading.

    Usage analysis sums `consumption`, never `reading`: registers are cumulative and restart
    from zero when a meter is replaced.
    """

    __tablename__ = "meter_readings"
    # High-usage scans and charts read one meter's readings over a span of time.
    __table_args__ = (Index("ix_meter_readings_meter_taken", "meter_id", "taken_at"),
                      Index("ix_meter_readings_taken", "taken_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    reading: Mapped[Decimal] = mapped_column(Quantity())
    consumption: Mapped[Decimal] = mapped_column(Quantity())
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_replacement: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
