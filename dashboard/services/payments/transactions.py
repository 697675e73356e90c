"""Top-ups and utility purchases: atomic, never below zero, once per Idempotency-Key.

The ledger itself: the office's immediate top-ups and every purchase come here directly; a
resident's payment comes here (credit_in) only once the provider has confirmed it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ...db import write_transaction
from ...models import (
    PAYMENT_METHODS,
    TOPUP_METHODS,
    UTILITIES,
    Estate,
    Transaction,
    Unit,
    Wallet,
)
from .. import notifications, webhooks
from ..errors import Conflict, NotFound, ValidationFailed
from ..forecast import wallets as forecast_wallets
from ..money import format_rand, parse_amount
from ..wallets.state import compute_state


@dataclass
class TransactionResult:
    """The transaction, and whether this call made it (False: an Idempotency-Key replay)."""

    transaction: Transaction
    created: bool
    state: str
    resolved_ids: list[int]


def request_fingerprint(**request) -> str:
    """A digest of what was asked, so a reused key with another request is refused."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _replay(session, wallet_id: int, key: str | None, fingerprint: str):
    """The earlier transaction made with this Idempotency-Key, or None."""
    if not key:
        return None
    tx = session.scalars(select(Transaction).where(Transaction.wallet_id == wallet_id,
                                                   Transaction.idempotency_key == key)).first()
    if tx is not None and tx.request_fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different request.",
                       code="idempotency_key_reused")
    return tx


#: The longest Idempotency-Key, and the pattern of one: printable ASCII with at least one
#: visible character (an HTTP header cannot carry more; the API's document quotes both).
IDEMPOTENCY_KEY_LENGTH = 100
IDEMPOTENCY_KEY_PATTERN = "^[ -~]*[!-~][ -~]*$"
#: What a resident pays with: through the payment provider (a pending payment, credited by
#: its signed webhook). Cash, EFT into the estate's account and manual entries are the
#: office's to record, and are credited at once (OFFICE_METHODS).
RESIDENT_METHODS = PAYMENT_METHODS
OFFICE_METHODS = ("cash", "eft", "manual_admin")


def validate_key(key: str | None) -> str | None:
    """Idempotency keys are short printable ASCII strings."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValidationFailed("Invalid Idempotency-Key header.", fields={
            "Idempotency-Key": f"Use 1 to {IDEMPOTENCY_KEY_LENGTH} printable ASCII characters."})
    return key


def check_method(method, allowed=TOPUP_METHODS) -> str:
    """The top-up method, or ValidationFailed naming the `allowed` ones (RESIDENT_METHODS for
    a resident's payment, OFFICE_METHODS for the office's immediate top-up)."""
    if method not in allowed:
        raise ValidationFailed("Invalid payment method.",
                               fields={"method": f"Choose one of: {', '.join(allowed)}."})
    return method


def top_up(session, wallet_id: int, amount, method, *, now: datetime, user_id: int | None = None,
           idempotency_key: str | None = None, methods=TOPUP_METHODS) -> TransactionResult:
    """Add `amount` to the wallet's balance at once; `user_id` made it. A return to `ok`
    resolves open credit alerts.

    `methods`: those the caller may record (the office: OFFICE_METHODS). A resident's
    payment is never this call: it is a pending payment (payments.checkout) that the
    provider's webhook credits through `credit_in`.
    """
    amount = parse_amount(amount)
    check_method(method, methods)
    key = validate_key(idempotency_key)
    fingerprint = request_fingerprint(type="topup", amount=str(amount), method=method)
    tx = _topup_row(wallet_id, amount, method, now=now, user_id=user_id)
    tx.idempotency_key, tx.request_fingerprint = key, fingerprint
    return _apply(session, wallet_id, _credit(wallet_id, amount), tx, now=now, sign=+1)


def _credit(wallet_id: int, amount: Decimal):
    """The statement that adds `amount` to the wallet's balance."""
    return update(Wallet).where(Wallet.id == wallet_id).values(balance=Wallet.balance + amount)


def _topup_row(wallet_id: int, amount: Decimal, method: str, *, now: datetime,
               user_id: int | None) -> Transaction:
    """A top-up's ledger row (its balances are filled in when it is applied)."""
    return Transaction(wallet_id=wallet_id, type="topup", amount=amount, method=method,
                       created_by_id=user_id, created_at=now)


def credit_in(session, wallet_id: int, amount: Decimal, method: str, *, now: datetime,
              user_id: int | None) -> TransactionResult:
    """Credit a top-up inside the caller's open write transaction (a payment settling: its
    move to `succeeded` and this credit commit together, or neither does)."""
    tx = _topup_row(wallet_id, amount, method, now=now, user_id=user_id)
    return _move(session, wallet_id, _credit(wallet_id, amount), tx, now=now, sign=+1)


def purchase(session, wallet_id: int, utility, amount, *, now: datetime,
             user_id: int | None = None, idempotency_key: str | None = None
             ) -> TransactionResult:
    """Buy `amount` of `utility` credit from the balance; 409 when the balance is short."""
    amount = parse_amount(amount)
    if utility not in UTILITIES:
        raise ValidationFailed("Invalid utility.",
                               fields={"utility": f"Choose one of: {', '.join(UTILITIES)}."})
    key = validate_key(idempotency_key)
    fingerprint = request_fingerprint(type="purchase", amount=str(amount), utility=utility)
    credit = getattr(Wallet, f"{utility}_credit")
    # The balance check and the debit are one statement, so parallel purchases can never take
    # the balance below zero or lose an update.
    change = (update(Wallet).where(Wallet.id == wallet_id, Wallet.balance >= amount)
              .values({Wallet.balance: Wallet.balance - amount, credit: credit + amount}))
    tx = Transaction(wallet_id=wallet_id, type="purchase", utility=utility, amount=amount,
                     created_by_id=user_id, idempotency_key=key,
                     request_fingerprint=fingerprint, created_at=now)
    return _apply(session, wallet_id, change, tx, now=now, sign=-1)


def _apply(session, wallet_id: int, change, tx: Transaction, *, now: datetime, sign: int
           ) -> TransactionResult:
    """Run one transaction under the write lock: replay check, debit/credit, ledger row."""
    key, fingerprint = tx.idempotency_key, tx.request_fingerprint
    try:
        with write_transaction(session):
            earlier = _replay(session, wallet_id, key, fingerprint)
            if earlier is not None:
                wallet = session.get(Wallet, wallet_id)
                return TransactionResult(earlier, False, wallet.state, [])
            return _move(session, wallet_id, change, tx, now=now, sign=sign)
    except IntegrityError:
        # A parallel request with the same Idempotency-Key won the race: answer with its result.
        earlier = _replay(session, wallet_id, key, fingerprint) if key else None
        if earlier is None:
            raise
        return TransactionResult(earlier, False, session.get(Wallet, wallet_id).state, [])


def _move(session, wallet_id: int, change, tx: Transaction, *, now: datetime, sign: int
          ) -> TransactionResult:
    """In the open write transaction: the debit or credit, the ledger row, the new state."""
    amount = tx.amount
    # The changed wallet comes back from the UPDATE itself (RETURNING, on SQLite and
    # PostgreSQL alike), refreshed in the session, instead of a second statement reading it.
    wallet = session.scalars(change.returning(Wallet), execution_options={
        "synchronize_session": False, "populate_existing": True}).one_or_none()
    if wallet is None:
        wallet = session.get(Wallet, wallet_id)
        if wallet is None:
            raise NotFound("No such wallet.")
        raise Conflict(
            f"The balance of {format_rand(wallet.balance)} is less than "
            f"{format_rand(amount)}.", code="insufficient_funds",
            fields={"amount": f"The most you can spend is {format_rand(wallet.balance)}."})
    tx.balance_after = wallet.balance
    tx.balance_before = wallet.balance - sign * amount
    if tx.utility:
        tx.units = units_for(session, wallet, tx.utility, amount)
    session.add(tx)
    session.flush()
    resolved = _update_state(session, wallet, now, topped_up=sign > 0)
    return TransactionResult(tx, True, wallet.state, resolved)


def units_for(session, wallet: Wallet, utility: str, amount: Decimal) -> Decimal:
    """kWh or kL that `amount` buys at the estate's tariff (rounded down to 0.001)."""
    estate = session.scalar(select(Estate).join(Unit).where(Unit.id == wallet.unit_id))
    try:
        tariff = estate.tariff(utility)
    except KeyError:
        raise ValidationFailed("This estate does not sell that utility.",
                               fields={"utility": "Not sold on this estate."}) from None
    return (amount / tariff).quantize(Decimal("0.001"), rounding=ROUND_DOWN)


def _update_state(session, wallet: Wallet, now: datetime, *, topped_up: bool) -> list[int]:
    """Store the wallet's new state and run-out sort key; a top-up back to `ok` resolves
    alerts and re-arms them, and any top-up re-arms credit_depleted."""
    spend, first_purchase = forecast_wallets.spend_window(session, wallet.id, now)
    state = compute_state(wallet.balance, wallet.low_balance_threshold, wallet.alert_mode,
                          wallet.low_balance_days, spend)
    resolved: list[int] = []
    alerted = wallet.state != "ok" or wallet.low_alerted_at or wallet.critical_alerted_at
    if topped_up and state == "ok" and alerted:
        resolved = notifications.resolve_credit_alerts(session, wallet.id, now)
        wallet.low_alerted_at = None
        wallet.critical_alerted_at = None
    if topped_up and wallet.depleted_at is not None and wallet.balance > 0:
        resolved += notifications.resolve_credit_alerts(session, wallet.id, now,
                                                        kinds=("credit_depleted",))
        wallet.depleted_at = None
    webhooks.wallet_state_changed(session, wallet.id, wallet.state, state, now)
    if state != wallet.state:
        wallet.state_since = now
    wallet.state = state
    forecast_wallets.store_sort_key(wallet, spend, first_purchase, now)
    return resolved
