"""Estates, their units, the people who live in them and who occupies what."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .types import EpochTime, Money, UTCDateTime


class Estate(Base):
    """A managed estate: its tariffs and the default alert settings of its wallets."""

    __tablename__ = "estates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Rand per kWh or kL, as strings keyed by utility: {"electricity": "3.20", ...}.
    tariffs: Mapped[dict] = mapped_column(JSON, default=dict)
    default_low_balance_threshold: Mapped[Decimal] = mapped_column(Money(), default=Decimal("50.00"))
    default_alert_mode: Mapped[str] = mapped_column(String(10), default="amount")
    default_low_balance_days: Mapped[int] = mapped_column(Integer, default=3)
    default_alert_frequency_hours: Mapped[int] = mapped_column(Integer, default=24)
    # The range within which residents may set their own threshold.
    min_low_balance_threshold: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    max_low_balance_threshold: Mapped[Decimal] = mapped_column(Money(), default=Decimal("2000.00"))
    # SMS costs money: with a delay, an SMS goes only if its notification is still unread
    # in-app this many minutes after it was made (0: at once).
    sms_delay_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Where the estate is: its local time decides friendly hours and its digest's day. None:
    # the system's zone (CELERY_TIMEZONE).
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Friendly hours (services/forecast): the meters keep the supply on during them, so a
    # run-out inside them cuts the supply only when they end. Minutes after local midnight;
    # start > end spans midnight, start == end is no daily window.
    friendly_hours: Mapped[bool] = mapped_column(default=True, server_default=true())
    friendly_start: Mapped[int] = mapped_column(Integer, default=18 * 60, server_default="1080")
    friendly_end: Mapped[int] = mapped_column(Integer, default=7 * 60, server_default="420")
    friendly_weekends: Mapped[bool] = mapped_column(default=True, server_default=true())
    friendly_holidays: Mapped[bool] = mapped_column(default=True, server_default=true())
    # A meter with no reading for this long is reported silent (check_silent_meters).
    meter_silent_hours: Mapped[int] = mapped_column(Integer, default=48, server_default="48")
    # How far ahead the estate's calendar_spans reach (None: not made yet, or settings changed).
    calendar_until: Mapped[datetime | None] = mapped_column(EpochTime())
    # When its last operators' digest was made (the next one counts what is new since).
    digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    units: Mapped[list[Unit]] = relationship(back_populates="estate")

    def tariff(self, utility: str) -> Decimal:
        """Rand per unit of `utility`; KeyError when the estate does not sell it."""
        return Decimal(str(self.tariffs[utility]))


class Unit(Base):
    """A home or shop on an estate, with one prepaid wallet and its meters."""

    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("estate_id", "number"),
        # Wallet search by unit number, in any case (services/wallets.search_condition).
        Index("ix_units_number_lower", func.lower(text("number"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"))
    number: Mapped[str] = mapped_column(String(20))

    estate: Mapped[Estate] = relationship(back_populates="units")
    occupancies: Mapped[list[Occupancy]] = relationship(back_populates="unit")


class Person(Base):
    """Somebody who owns or rents a unit; may have a resident login (User)."""

    __tablename__ = "people"
    # Wallet search by resident name: first, last or "first last", in any case.
    __table_args__ = (
        Index("ix_people_first_lower", func.lower(text("first_name"))),
        Index("ix_people_last_lower", func.lower(text("last_name"))),
        Index("ix_people_full_lower", func.lower(text("first_name || ' ' || last_name"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    # Where notifications beyond the app go: checked on the way in (services/channels/
    # addresses.py); the phone in E.164 ("+27821234567").
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


class Occupancy(Base):
    """A person's link to a unit, as owner or tenant, over a span of dates."""

    __tablename__ = "occupancies"
    __table_args__ = (
        Index("ix_occupancies_unit", "unit_id", "end_date"),
        Index("ix_occupancies_person", "person_id", "end_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(10))  # owner | tenant
    is_primary: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)  # None while current

    unit: Mapped[Unit] = relationship(back_populates="occupancies")
    person: Mapped[Person] = relationship()


class CalendarSpan(Base):
    """A stretch of an estate's timeline within one local day, with one UTC offset, inside
    or outside friendly hours, with the words alerts name its times by.

    The spans of an estate follow each other without gaps, cut at every local midnight, every
    edge of friendly hours and every clock change, for a few weeks around now
    (services/forecast/calendar.py makes them from the estate's settings, its time zone and
    South Africa's public holidays). The scans find the span holding a run-out with one index
    seek (the first span ending after it) and read there when the supply is cut and how to
    say both times, so SQL needs no time-zone, holiday or calendar rules of its own. Words
    come near ("Sat") and far ("Sat 14 Mar"), as forecast.when_text chooses by distance.
    """

    __tablename__ = "calendar_spans"
    # No rowid on SQLite: the primary key's B-tree holds the whole row, one seek reads it.
    __table_args__ = {"sqlite_with_rowid": False}

    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id", ondelete="CASCADE"),
                                           primary_key=True)
    ends_at: Mapped[datetime] = mapped_column(EpochTime(), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(EpochTime())
    utc_offset: Mapped[int] = mapped_column(Integer)  # minutes east of UTC, all along the span
    day_near: Mapped[str] = mapped_column(String(3))  # its local day: "Sat"
    day_far: Mapped[str] = mapped_column(String(10))  # "Sat 14 Mar"
    # Friendly spans only (None outside friendly hours): the end of the run of friendly hours
    # the span belongs to (a Friday evening's span says Monday 07:00), in words near and far.
    supply_until: Mapped[datetime | None] = mapped_column(EpochTime())
    supply_near: Mapped[str | None] = mapped_column(String(9))  # "Mon 07:00"
    supply_far: Mapped[str | None] = mapped_column(String(16))  # "Mon 16 Mar 07:00"
