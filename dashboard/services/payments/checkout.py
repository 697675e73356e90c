"""A resident's payment: started pending, looked up by its payer, expired when left unpaid.

Starting a payment credits nothing: the resident is sent to the payment provider (its
`redirect_url`), and only the provider's signed webhook (payments.webhook) moves it to
`succeeded` and credits the wallet. A payment still pending PAYMENT_TTL after it started is
`expired`: the beat sweep marks those every minute (`expire_due`), and reading one marks it
at once (`settle_expired`), so its status is right even without beat.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ...db import write_transaction
from ...models import Payment, User, Wallet
from ..errors import Conflict, NotFound
from ..money import money_str, parse_amount
from ..wallets.access import visible
from .transactions import RESIDENT_METHODS, check_method, request_fingerprint, validate_key

#: How long a resident has to pay on the provider's page.
PAYMENT_TTL = timedelta(minutes=30)
EXPIRED_REASON = "Not paid within 30 minutes."


@dataclass
class PaymentResult:
    """The payment, and whether this call started it (False: an Idempotency-Key replay)."""

    payment: Payment
    created: bool


def _replay(session, wallet_id: int, key: str | None, fingerprint: str) -> Payment | None:
    """The earlier payment started with this Idempotency-Key, or None; Conflict when the key
    was used for a different request."""
    if not key:
        return None
    earlier = session.scalars(select(Payment).where(Payment.wallet_id == wallet_id,
                                                    Payment.idempotency_key == key)).first()
    if earlier is not None and earlier.request_fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different request.",
                       code="idempotency_key_reused")
    return earlier


def start_payment(session, wallet_id: int, amount, method, *, now: datetime, user_id: int,
                  idempotency_key: str | None = None) -> PaymentResult:
    """A pending payment of `amount` by `method` (RESIDENT_METHODS) into the wallet, started
    by `user_id`; a replayed Idempotency-Key answers the first payment, never a second."""
    amount = parse_amount(amount)
    check_method(method, RESIDENT_METHODS)
    key = validate_key(idempotency_key)
    fingerprint = request_fingerprint(type="payment", amount=str(amount), method=method)
    try:
        with write_transaction(session):
            earlier = _replay(session, wallet_id, key, fingerprint)
            if earlier is not None:
                return PaymentResult(earlier, False)
            if session.get(Wallet, wallet_id) is None:
                raise NotFound("No such wallet.")
            payment = Payment(wallet_id=wallet_id, amount=amount, method=method,
                              status="pending", created_by_id=user_id, idempotency_key=key,
                              request_fingerprint=fingerprint, created_at=now,
                              expires_at=now + PAYMENT_TTL)
            session.add(payment)
            session.flush()
            return PaymentResult(payment, True)
    except IntegrityError:
        # A parallel request with the same key won the race: answer with its payment.
        earlier = _replay(session, wallet_id, key, fingerprint) if key else None
        if earlier is None:
            raise
        return PaymentResult(earlier, False)


def get_payment(session, user: User, payment_id: int, *, now: datetime) -> Payment:
    """A payment as `user` may see it: staff any, a resident only their own (else NotFound,
    never a hint it exists). A pending payment past its deadline is expired first."""
    query = select(Payment).where(Payment.id == payment_id)
    if not user.is_staff:
        query = query.join(Wallet, Wallet.id == Payment.wallet_id).where(
            Payment.created_by_id == user.id, visible(session, user))
    payment = session.scalars(query).first()
    if payment is None:
        raise NotFound("No such payment.")
    return settle_expired(session, payment, now=now)


def latest_payment(session, user: User, wallet_id: int, *, since: datetime, now: datetime
                   ) -> Payment | None:
    """The newest payment `user` started into the wallet since `since` (expired first when
    it is past its deadline), or None."""
    payment = session.scalars(
        select(Payment).where(Payment.wallet_id == wallet_id, Payment.created_by_id == user.id,
                              Payment.created_at >= since)
        .order_by(Payment.id.desc()).limit(1)).first()
    return settle_expired(session, payment, now=now) if payment is not None else None


def is_overdue(payment: Payment, now: datetime) -> bool:
    """A pending payment whose time to pay is up."""
    return payment.status == "pending" and payment.expires_at <= now


def expire_overdue(session, now: datetime, *ids: int):
    """Mark pending payments past their deadline expired (all of them, or those of `ids`);
    the condition makes a webhook settling one at the same moment win or lose cleanly.
    Returns the (id, wallet_id) of those this call expired."""
    change = (update(Payment)
              .where(Payment.status == "pending", Payment.expires_at <= now)
              .values(status="expired", settled_at=now, failure_reason=EXPIRED_REASON)
              .returning(Payment.id, Payment.wallet_id)
              .execution_options(synchronize_session=False))
    if ids:
        change = change.where(Payment.id.in_(ids))
    return [(row.id, row.wallet_id) for row in session.execute(change)]


def settle_expired(session, payment: Payment, *, now: datetime) -> Payment:
    """The payment, marked expired first when it is overdue (the sweep may not have run)."""
    if not is_overdue(payment, now):
        return payment
    with write_transaction(session):
        expire_overdue(session, now, payment.id)
    session.refresh(payment)
    return payment


def expire_due(session, now: datetime) -> list[tuple[int, int]]:
    """The beat sweep: expire every overdue pending payment in one statement; returns the
    (payment id, wallet id) of each, so their wallets' pages can refresh."""
    with write_transaction(session):
        return expire_overdue(session, now)


def checkout_url(template: str, payment: Payment, return_url: str) -> str:
    """The provider's page for this payment, from a URL template naming any of
    {payment_id}, {amount}, {method} and {return_url} (each URL-encoded)."""
    return template.format(payment_id=payment.id, amount=quote(money_str(payment.amount)),
                           method=quote(payment.method), return_url=quote(return_url, safe=""))
