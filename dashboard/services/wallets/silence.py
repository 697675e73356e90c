"""Silent meters as the pages and the digest see them: found silent by the last
check_silent_meters (services/scans/silent_meters.py sets Meter.silent_since) and with no
reading since."""
from __future__ import annotations

from sqlalchemy import and_, exists, select

from ...models import Meter, MeterReading


def silent_meters():
    """The condition on meters of those silent: found so by the last check_silent_meters and
    with no reading since (the wallet list's filter, the pages, the digest)."""
    newer = exists(select(MeterReading.id).where(MeterReading.meter_id == Meter.id,
                                                 MeterReading.taken_at > Meter.silent_since))
    return and_(Meter.silent_since.is_not(None), ~newer)


def silent_of_units(session, unit_ids: list[int]) -> dict[int, list[Meter]]:
    """The silent meters of each unit (a page of wallets: one query): {unit_id: [meters]}."""
    found: dict[int, list[Meter]] = {i: [] for i in unit_ids}
    if unit_ids:
        for meter in session.scalars(select(Meter).where(Meter.unit_id.in_(unit_ids),
                                                         silent_meters()).order_by(Meter.id)):
            found[meter.unit_id].append(meter)
    return found
