"""The payment provider's webhook: verify its Standard Webhooks signature, then settle the
payment it names, crediting the wallet exactly once.

The signature (HMAC-SHA256 over `webhook-id.webhook-timestamp.body` with the `whsec_...`
PAYMENT_WEBHOOK_SECRET) is the only authentication; a timestamp more than five minutes
from now is refused, so a captured message cannot be replayed later. Within those minutes a
replay (or the provider sending twice) changes nothing: a payment moves out of `pending`
only once, by a conditional UPDATE in the same write transaction as the credit, so two
deliveries racing each other credit once (the loser finds it settled and answers as a
repeat).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ...db import write_transaction
from ...models import Payment
from ..errors import Conflict, NotFound, ServiceError, ValidationFailed
from ..ids import MAX_ID
from ..money import format_rand, money_str, parse_amount
from .checkout import expire_overdue, is_overdue
from .transactions import TransactionResult, credit_in

log = logging.getLogger(__name__)

#: The events the provider sends, and the status each settles a payment in.
EVENTS = {"payment.succeeded": "succeeded", "payment.failed": "failed"}
DECLINED_REASON = "The payment was declined."
DATA_FIELDS = ("payment_id", "amount", "provider_ref")
PROVIDER_REF_LENGTH = 100
#: The provider's reference: 1 to 100 characters, none of them a control character.
PROVIDER_REF_PATTERN = f"^[^\\x00-\\x1f\\x7f]{{1,{PROVIDER_REF_LENGTH}}}$"
WEBHOOK_ID_LENGTH = 255
SECRET_PREFIX = "whsec_"


class InvalidSignature(ServiceError):
    """The message is not signed with our secret, or its timestamp is too old or too new."""

    code = "invalid_signature"


def webhook(secret: str) -> Webhook:
    """The Standard Webhooks signer/verifier of a `whsec_...` secret (ValueError for one that
    is not base64 of at least 24 bytes)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"A webhook secret starts with {SECRET_PREFIX}")
    text = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("A webhook secret is whsec_ followed by base64") from exc
    if len(key) < 24:
        raise ValueError("A webhook secret needs at least 24 random bytes")
    return Webhook(key)


def sign(secret: str, body: bytes, *, msg_id: str, timestamp: datetime) -> dict[str, str]:
    """The three headers that sign `body` as the provider does (the test gateway, tests)."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": webhook(secret).sign(msg_id, timestamp, body)}


def event_body(event: str, payment_id: int, amount, provider_ref: str, now: datetime) -> bytes:
    """A webhook body as the provider sends it: {type, timestamp, data: {payment_id, amount,
    provider_ref}} (the test gateway, tests)."""
    return json.dumps({"type": event, "timestamp": now.isoformat(),
                       "data": {"payment_id": payment_id, "amount": money_str(amount),
                                "provider_ref": provider_ref}}).encode()


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The message's webhook-id when `body` is signed with `secret` and fresh, else
    InvalidSignature saying why (nothing else is looked at before this passes)."""
    wanted = {name: headers.get(name) or "" for name in
              ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(wanted.values()):
        raise InvalidSignature("The webhook-id, webhook-timestamp and webhook-signature "
                               "headers are required.")
    if len(wanted["webhook-id"]) > WEBHOOK_ID_LENGTH:
        raise InvalidSignature(f"The webhook-id is longer than {WEBHOOK_ID_LENGTH} characters.")
    try:
        webhook(secret).verify(body, wanted, json_parse=False)
    except WebhookVerificationError as exc:
        reason = str(exc)
        if "too old" in reason or "too new" in reason:
            raise InvalidSignature("The webhook's timestamp is more than five minutes from "
                                   "now.", code="stale_webhook") from None
        raise InvalidSignature("The webhook's signature does not match.") from None
    return wanted["webhook-id"]


@dataclass
class Settlement:
    """What a webhook did: the payment as it is now, the credit when this call made one, and
    whether this call changed anything (False: a repeat of a settled payment)."""

    payment: Payment
    changed: bool
    credit: TransactionResult | None = None


@dataclass(frozen=True)
class Event:
    """A checked webhook body."""

    status: str  # the status it settles the payment in
    payment_id: int
    amount: object
    provider_ref: str


def parse_event(body: dict) -> Event:
    """The event of a webhook body {type, data: {payment_id, amount, provider_ref}}, or
    ValidationFailed naming each bad field."""
    errors = {}
    kind = body.get("type")
    status = EVENTS.get(kind) if isinstance(kind, str) else None
    if status is None:
        errors["type"] = f"Choose one of: {', '.join(EVENTS)}."
    data = body.get("data")
    if not isinstance(data, dict):
        raise ValidationFailed("The webhook has no data.", fields={
            **errors, "data": "Send an object with payment_id, amount and provider_ref."})
    for name in sorted(set(map(str, data)) - set(DATA_FIELDS))[:10]:
        errors[f"data.{name[:60]}"] = "Unknown field."
    payment_id, ref = data.get("payment_id"), data.get("provider_ref")
    if not (isinstance(payment_id, int) and not isinstance(payment_id, bool)
            and 1 <= payment_id <= MAX_ID):
        errors["data.payment_id"] = f"Send a payment id from 1 to {MAX_ID}."
    if not isinstance(data.get("amount"), str):
        errors["data.amount"] = "Send the amount as a string, like \"49.50\"."
    else:
        try:
            parse_amount(data["amount"])
        except ValidationFailed as exc:
            errors["data.amount"] = exc.fields["amount"]
    if not (isinstance(ref, str) and re.fullmatch(PROVIDER_REF_PATTERN, ref)):
        errors["data.provider_ref"] = (f"Send the provider's reference: 1 to "
                                       f"{PROVIDER_REF_LENGTH} characters, no control "
                                       f"characters.")
    if errors:
        raise ValidationFailed("The webhook's body is not valid.", fields=errors)
    return Event(status, payment_id, parse_amount(data["amount"]), ref)


def settle(session, event: Event, *, webhook_id: str, now: datetime) -> Settlement:
    """Settle the payment the event names: `succeeded` credits its wallet (once), `failed`
    credits nothing. Refused, changing nothing: an unknown payment (NotFound), an amount
    other than the payment's (ValidationFailed), a payment that expired (Conflict)."""
    with write_transaction(session):
        # The usual case in one statement: a pending payment of this amount, still in time.
        settled = _settle_pending(session, event, webhook_id=webhook_id, now=now)
        if settled is not None:
            return settled
        # Nothing moved: read the payment to say why (or to expire it, when it is overdue).
        payment = session.get(Payment, event.payment_id, populate_existing=True)
        if payment is None:
            raise NotFound(f"No payment {event.payment_id}.")
        if event.amount != payment.amount:
            raise ValidationFailed(
                f"The webhook's amount {format_rand(event.amount)} is not the payment's "
                f"{format_rand(payment.amount)}.", code="amount_mismatch",
                fields={"data.amount": f"The payment is for {payment.amount:.2f}."})
        if is_overdue(payment, now):
            expire_overdue(session, now, payment.id)
    session.refresh(payment)
    if payment.status == "expired":
        # Not credited: the resident was told it expired and may have paid again. The
        # provider must treat the refusal as a payment to void or refund (see README).
        log.warning("webhook %s for expired payment %s refused", webhook_id, payment.id)
        raise Conflict(f"Payment {payment.id} expired at {payment.expires_at.isoformat()}; "
                       f"nothing was credited.", code="payment_expired")
    log.info("webhook %s repeats payment %s (%s): nothing changed", webhook_id, payment.id,
             payment.status)
    return Settlement(payment, changed=False)


def _settle_pending(session, event: Event, *, webhook_id: str, now: datetime
                    ) -> Settlement | None:
    """In the open write transaction: move the payment out of `pending` if it still is, for
    the event's amount and before its deadline (the condition also decides between racing
    deliveries), and credit it on success. None when nothing moved: not pending any more,
    overdue, another amount, or no such payment."""
    # The moved payment comes back from the UPDATE (RETURNING), refreshed in the session.
    payment = session.scalars(
        update(Payment)
        .where(Payment.id == event.payment_id, Payment.status == "pending",
               Payment.expires_at > now, Payment.amount == event.amount)
        .values(status=event.status, settled_at=now, provider_ref=event.provider_ref,
                webhook_id=webhook_id,
                failure_reason=DECLINED_REASON if event.status == "failed" else None)
        .returning(Payment),
        execution_options={"synchronize_session": False, "populate_existing": True}
    ).one_or_none()
    if payment is None:
        return None
    credit = None
    if event.status == "succeeded":
        credit = credit_in(session, payment.wallet_id, payment.amount, payment.method, now=now,
                           user_id=payment.created_by_id)
        payment.transaction_id = credit.transaction.id
    session.flush()
    return Settlement(payment, changed=True, credit=credit)
