"""Meters and their readings."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, text
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


class MeterUsage(Base):
    """Where one meter's usage stands: what the high-usage scan reads instead of its readings,
    one row per meter (services/wallets/recent_usage.py keeps it, scans/usage_filter.py reads
    it).

    `total` is all the meter's consumption up to its latest reading, whose UTC day is `day`;
    `total_at_1`, `total_at_2`, `total_at_30` and `total_at_31` are the running total at the
    end of the day that many days before `day`. The first and last reading of `day` (times,
    and the first's and last's consumption) and the first and last of the day before it
    (`prior_*`, None when nothing was read then) bound the running total at any moment of
    those days, exactly when a day had at most two readings. `first_day` is the day of the
    meter's first reading.
    """

    __tablename__ = "meter_usage"

    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), primary_key=True,
                                          autoincrement=False)
    day: Mapped[date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(Quantity())
    total_at_1: Mapped[Decimal] = mapped_column(Quantity())
    total_at_2: Mapped[Decimal] = mapped_column(Quantity())
    total_at_30: Mapped[Decimal] = mapped_column(Quantity())
    total_at_31: Mapped[Decimal] = mapped_column(Quantity())
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_consumption: Mapped[Decimal] = mapped_column(Quantity())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_consumption: Mapped[Decimal] = mapped_column(Quantity())
    prior_first_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    prior_first_consumption: Mapped[Decimal | None] = mapped_column(Quantity())
    prior_last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_day: Mapped[date] = mapped_column(Date)
