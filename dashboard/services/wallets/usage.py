"""Daily consumption per meter, for the 30-day usage charts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ...models import UTILITY_UNITS, Meter, MeterReading


@dataclass
class DailyUsage:
    """One meter's consumption per local day, oldest first."""

    meter_id: int
    utility: str
    serial: str
    unit: str  # kWh or kL
    days: list[tuple[date, Decimal]]

    @property
    def total(self) -> Decimal:
        """Consumption over the whole span."""
        return sum((v for _, v in self.days), Decimal(0))

    @property
    def average(self) -> Decimal:
        """Average per day over the days shown."""
        return (self.total / len(self.days)).quantize(Decimal("0.001")) if self.days else Decimal(0)

    @property
    def peak(self) -> Decimal:
        """The largest day."""
        return max((v for _, v in self.days), default=Decimal(0))


def daily_usage(session, unit_id: int, now: datetime, tz: str, days: int = 30
                ) -> list[DailyUsage]:
    """Consumption per local day over the last `days` days for every meter of a unit.

    One query for the unit's readings in the span; the grouping by local day is done here
    because "a day" depends on the time zone, which SQL would handle differently per database.
    """
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), zone)
    meters = list(session.scalars(select(Meter).where(Meter.unit_id == unit_id)
                                  .order_by(Meter.id)))
    totals: dict[int, dict[date, Decimal]] = {m.id: {} for m in meters}
    rows = session.execute(
        select(MeterReading.meter_id, MeterReading.taken_at, MeterReading.consumption)
        .where(MeterReading.meter_id.in_([m.id for m in meters]),
               MeterReading.taken_at >= start, MeterReading.taken_at <= now))
    for meter_id, taken_at, consumption in rows:
        day = taken_at.astimezone(zone).date()
        totals[meter_id][day] = totals[meter_id].get(day, Decimal(0)) + consumption
    span = [first + timedelta(days=i) for i in range(days)]
    return [DailyUsage(m.id, m.utility, m.serial, UTILITY_UNITS[m.utility],
                       [(d, totals[m.id].get(d, Decimal(0))) for d in span])
            for m in meters if totals[m.id]]
