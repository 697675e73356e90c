"""The figures on the operator overview: wallets per state, notifications today per type."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ...models import WALLET_STATES, Notification, Wallet
from ..notifications.log import day_span
from ..notifications.messages import TYPES


def today_by_type(session, now: datetime, tz: str) -> dict[str, int]:
    """Notifications made since local midnight, per type (every type present, zeros too)."""
    start, _end = day_span(now.astimezone(ZoneInfo(tz)).date(), tz)
    counts = dict(session.execute(select(Notification.type, func.count())
                                  .where(Notification.created_at >= start)
                                  .group_by(Notification.type)).all())
    return {kind: counts.get(kind, 0) for kind in TYPES}


def wallets_by_state(session) -> dict[str, int]:
    """Wallets per state: one count per state, each a range of the (state, id) index."""
    return {state: session.scalar(select(func.count()).select_from(Wallet)
                                  .where(Wallet.state == state)) or 0
            for state in WALLET_STATES}
