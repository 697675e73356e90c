"""The real-time follow-up of a transaction: exactly one notice per top-up or purchase, and the
wallet's credit check right after it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from ...models import Estate, Transaction, Unit, Wallet
from .. import notifications
from ..errors import NotFound
from ..notifications import messages
from ..scans import credit_alerts


def notify_transaction(session, transaction_id: int, now: datetime) -> list[int]:
    """Store the `topup_success` or `purchase_success` of a transaction (idempotent).

    The dedup_key is the transaction id, so a task delivered twice stores one notification;
    returns the ids created by this call (empty for a repeat).
    """
    tx, unit, _state = _transaction(session, transaction_id)
    return _store_notice(session, tx, unit, now)


@dataclass
class FollowUp:
    """What a transaction's real-time task did: its notice (none on a repeat), the credit
    alerts of the wallet check, and whether the wallet's live event must go out again (the
    check found it low or critical, or changed its stored state; the web already published
    the balance and state its own transaction left)."""

    wallet_id: int
    notice_ids: list[int]
    alert_ids: list[int] = field(default_factory=list)
    wallet_changed: bool = False

    @property
    def notification_ids(self) -> list[int]:
        """Every notification this call made."""
        return [*self.notice_ids, *self.alert_ids]


def follow_up(session, transaction_id: int, now: datetime, *,
              check_wallet: bool = True) -> FollowUp:
    """All a committed transaction's one real-time task does, in the caller's write
    transaction: store its notice (once, however often delivered) and, with `check_wallet`,
    check the wallet right after it (`credit_alerts.check_wallet`: low or critical alerts,
    each claimed once). NotFound for an unknown transaction.

    One transaction for both, so a notice never exists without the check having run: the
    sweep (sweep.py) can take a transaction without a notice for one whose task never ran.
    """
    tx, unit, stored_state = _transaction(session, transaction_id)
    result = FollowUp(tx.wallet_id, _store_notice(session, tx, unit, now))
    if check_wallet:
        passes = credit_alerts.check_wallet(session, tx.wallet_id, now)
        result.alert_ids = [i for p in passes.values() for i in p.notification_ids]
        # check_wallet stores `ok` over a stale state, and takes a low or critical wallet
        # (eligible) through the alert passes: either way its event may have changed.
        result.wallet_changed = stored_state != "ok" or any(p.eligible for p in passes.values())
    return result


# Built once (it runs for every transaction): the transaction's id is bound per call.
TRANSACTION = (select(Transaction, Unit.number, Estate.name, Wallet.state)
               .join(Wallet, Wallet.id == Transaction.wallet_id)
               .join(Unit, Unit.id == Wallet.unit_id).join(Estate, Estate.id == Unit.estate_id)
               .where(Transaction.id == bindparam("transaction_id")))


def _transaction(session, transaction_id: int):
    """(transaction, "unit, estate", the wallet's stored state) in one statement."""
    row = session.execute(TRANSACTION, {"transaction_id": transaction_id}).first()
    if row is None:
        raise NotFound(f"No transaction {transaction_id}.")
    tx, number, estate, state = row
    return tx, f"{number}, {estate}", state


def _store_notice(session, tx: Transaction, unit: str, now: datetime) -> list[int]:
    """Store the notice of `tx` (dedup key: the transaction); the ids this call made."""
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
