"""Meters and their readings."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .common import utcnow
from .estate import Unit
from .types import Quantity, UTCDateTime


class Meter(Base):
    """One utility meter of a unit."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    utility: Mapped[str] = mapped_column(String(12))
    serial: Mapped[str] = mapped_column(String(40), unique=True)

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


class MeterDailyUsage(Base):
    """One meter's readings of one UTC day, summed: what the high-usage scan reads instead of
    the readings themselves (services/wallets/usage_days.py keeps it, scans/usage_filter.py
    reads it).

    `cumulative` is the meter's consumption from its first reading to the end of this day, so
    the consumption between two days is a difference of two rows. The first and last reading
    of the day (time and consumption) bound the running total at any moment inside the day,
    exactly when the day has at most two readings. `next_day` is the meter's next day with a
    reading (None on its latest row), `first_day` its first ever.

    Clustered by (day, meter_id) on SQLite (no rowid), so one day of a range of meters is one
    contiguous read.
    """

    __tablename__ = "meter_daily_usage"
    __table_args__ = {"sqlite_with_rowid": False}

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    consumption: Mapped[Decimal] = mapped_column(Quantity())
    cumulative: Mapped[Decimal] = mapped_column(Quantity())
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_consumption: Mapped[Decimal] = mapped_column(Quantity())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_consumption: Mapped[Decimal] = mapped_column(Quantity())
    first_day: Mapped[date] = mapped_column(Date)
    next_day: Mapped[date | None] = mapped_column(Date)
