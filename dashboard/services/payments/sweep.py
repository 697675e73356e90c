"""Finding transactions whose real-time notification never got made.

The web app enqueues the notification task after the commit; if the broker is unreachable at
that moment the task is lost. A sweep every minute finds such transactions (a set-based
anti-join) and notifies them, so a Redis outage delays a notification but never loses it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from ...models import Notification, Transaction

GRACE = timedelta(seconds=30)  # the normal path gets this long first
LOOKBACK = timedelta(days=1)


def unnotified_transactions(session, now: datetime, limit: int = 5000) -> list[int]:
    """Ids of recent transactions that have no notification yet, oldest first."""
    return list(session.scalars(
        select(Transaction.id)
        .outerjoin(Notification, Notification.transaction_id == Transaction.id)
        .where(Notification.id.is_(None), Transaction.created_at >= now - LOOKBACK,
               Transaction.created_at <= now - GRACE, Transaction.status == "completed")
        .order_by(Transaction.id).limit(limit)
    ))
