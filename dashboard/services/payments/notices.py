"""The real-time notifications of a transaction: exactly one per top-up or purchase."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ...models import Estate, Transaction, Unit, Wallet
from .. import notifications
from ..errors import NotFound
from ..notifications import messages


def notify_transaction(session, transaction_id: int, now: datetime) -> list[int]:
    """Store the `topup_success` or `purchase_success` of a transaction (idempotent).

    The dedup_key is the transaction id, so a task delivered twice stores one notification;
    returns the ids created by this call (empty for a repeat).
    """
    row = session.execute(
        select(Transaction, Unit.number, Estate.name)
        .join(Wallet, Wallet.id == Transaction.wallet_id).join(Unit, Unit.id == Wallet.unit_id)
        .join(Estate, Estate.id == Unit.estate_id).where(Transaction.id == transaction_id)
    ).first()
    if row is None:
        raise NotFound(f"No transaction {transaction_id}.")
    tx, number, estate = row
    unit = f"{number}, {estate}"
    data = {"transaction_id": tx.id, "amount": f"{tx.amount:.2f}",
            "balance_after": f"{tx.balance_after:.2f}"}
    if tx.type == "topup":
        kind = "topup_success"
        title, message = messages.topup_success(unit, tx.amount, tx.balance_after)
        data["method"] = tx.method
    else:
        kind = "purchase_success"
        title, message = messages.purchase_success(unit, tx.utility, tx.amount, tx.units,
                                                   tx.balance_after)
        data.update(utility=tx.utility, units=f"{tx.units:.3f}")
    return notifications.store(session, [notifications.notification_row(
        kind, title, message, dedup_key=f"{kind}:{tx.id}", now=now, wallet_id=tx.wallet_id,
        transaction_id=tx.id, data=data)])
