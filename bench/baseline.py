"""What the old system did, for comparison: load every row as an ORM object, then a query
loop with a de-duplication SELECT, an INSERT and a commit per alert.

Deliberately naive in the way the old system was, and no worse: it loads the unit and estate
eagerly with the wallets (one query), commits without expiring the loaded objects, and writes
no deliveries (the new scans do), so its figures flatter it if anything.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dashboard.models import Meter, Notification, Unit, Wallet
from dashboard.services.money import format_rand
from dashboard.services.notifications import messages
from dashboard.services.scans.high_usage import is_high, local_day, usage_query
from dashboard.services.wallets.state import compute_state, spend_30d

TARGET = {"low_credit": "low", "critical_credit": "critical"}


def credit_scan(session, kind: str, now) -> dict:
    """Old-style low or critical credit scan; returns {scanned, notified}."""
    wallets = session.scalars(select(Wallet).options(
        joinedload(Wallet.unit).joinedload(Unit.estate))).all()
    notified = 0
    for w in wallets:
        if kind == "critical_credit" and _depleted(session, w, now):
            notified += 1  # the new critical scan tells wallets at zero too
        spend = spend_30d(session, w.id, now) if w.alert_mode == "days" else Decimal(0)
        state = compute_state(w.balance, w.low_balance_threshold, w.alert_mode,
                              w.low_balance_days, spend)
        if state != TARGET[kind]:
            continue
        since = now - timedelta(hours=w.alert_frequency_hours)
        seen = session.scalar(select(Notification.id).where(
            Notification.wallet_id == w.id, Notification.type == kind,
            Notification.created_at >= since).limit(1))
        if seen is not None:
            continue
        unit = f"{w.unit.number}, {w.unit.estate.name}"
        # The old system wrote each message in Python, one wallet at a time (and knew no
        # run-out forecast: its messages quote none).
        if kind == "low_credit":
            title = messages.LOW_CREDIT_TITLE
            message = messages.LOW_CREDIT.format(unit=unit, balance=format_rand(w.balance),
                                                 threshold=format_rand(w.low_balance_threshold),
                                                 forecast="")
        else:
            title = messages.CRITICAL_CREDIT_TITLE
            message = messages.CRITICAL_CREDIT.format(unit=unit, balance=format_rand(w.balance),
                                                      forecast="")
        session.add(_notification(kind, title, message, now, wallet_id=w.id))
        session.commit()
        notified += 1
    return {"scanned": len(wallets), "notified": notified}


def _depleted(session, w: Wallet, now) -> bool:
    """Old-style credit_depleted: a wallet at zero not told since its last fall, one SELECT
    and one INSERT and commit for it; True when told."""
    if w.balance > 0 or w.low_balance_threshold <= 0:
        return False
    seen = session.scalar(select(Notification.id).where(
        Notification.wallet_id == w.id, Notification.type == "credit_depleted",
        Notification.resolved_at.is_(None)).limit(1))
    if seen is not None:
        return False
    unit = f"{w.unit.number}, {w.unit.estate.name}"
    session.add(_notification("credit_depleted", messages.CREDIT_DEPLETED_TITLE,
                              messages.CREDIT_DEPLETED.format(
                                  unit=unit, supply=messages.depleted_sentence(None)),
                              now, wallet_id=w.id))
    session.commit()
    return True


def usage_scan(session, now, tz: str = "Africa/Johannesburg") -> dict:
    """Old-style high-usage scan: every meter loaded, one usage query per meter."""
    meters = session.scalars(select(Meter).options(
        joinedload(Meter.unit).joinedload(Unit.estate))).all()
    day = local_day(now, tz)
    notified = 0
    for m in meters:
        row = session.execute(usage_query(Meter.id == m.id, now)).first()
        if row is None:
            continue
        _, last_24h, before, first_at = row
        last_24h, before = Decimal(last_24h or 0), Decimal(before or 0)
        flagged, average = is_high(last_24h, before, first_at, now)
        if not flagged:
            continue
        seen = session.scalar(select(Notification.id).where(
            Notification.meter_id == m.id, Notification.type == "high_usage",
            Notification.created_at >= now - timedelta(hours=24)).limit(1))
        if seen is not None:
            continue
        title, message = messages.high_usage(f"{m.unit.number}, {m.unit.estate.name}",
                                             m.utility, last_24h, average)
        session.add(_notification("high_usage", title, message, now, meter_id=m.id,
                                  data={"local_day": day}))
        session.commit()
        notified += 1
    return {"scanned": len(meters), "notified": notified}


def _notification(kind: str, title: str, message: str, now, **kw) -> Notification:
    """One ORM notification with a throwaway unique key."""
    return Notification(type=kind, title=title, message=message,
                        priority=messages.PRIORITIES[kind], created_at=now,
                        dedup_key=f"baseline:{uuid.uuid4().hex}", data=kw.pop("data", {}), **kw)
