"""Finding transactions whose real-time notification never got made.

The web app enqueues the transaction's one real-time task (notice and wallet check) after the
commit; if the broker is unreachable at that moment the task is lost. A sweep every minute
finds such transactions (a set-based anti-join) and does their task's work, so a Redis outage
delays a notification or an alert but never loses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ...models import Notification, Transaction, Wallet
from ..scans import credit_alerts
from .notices import notify_transaction

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


@dataclass
class Swept:
    """What a sweep did: the notices it made, and the credit alerts of the wallet checks of
    the same transactions."""

    notice_ids: list[int]
    alert_ids: list[int]
    wallet_ids: list[int]


def follow_up_missed(session, now: datetime, limit: int = 5000) -> Swept:
    """In the caller's write transaction: what the real-time task of each transaction that
    has no notice yet would have done (its task never reached the broker): the notice, and
    the wallet check, for all their wallets at once."""
    ids = unnotified_transactions(session, now, limit)
    notices = [i for tx_id in ids for i in notify_transaction(session, tx_id, now)]
    wallet_ids = sorted(set(session.scalars(
        select(Transaction.wallet_id).where(Transaction.id.in_(ids))))) if ids else []
    alerts: list[int] = []
    if wallet_ids:
        passes = credit_alerts.check_wallets(session, Wallet.id.in_(wallet_ids), now)
        alerts = [i for p in passes.values() for i in p.notification_ids]
    return Swept(notices, alerts, wallet_ids)
