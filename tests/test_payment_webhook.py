"""The payment provider's webhook (POST /api/v1/payments/webhook): its Standard Webhooks
signature is the only way in; a replayed, repeated, forged, stale or mismatched message
changes nothing; two valid deliveries racing each other credit once."""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from threading import Barrier
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from dashboard.models import Payment, Transaction, Wallet, utcnow
from dashboard.services import payments
from tests import provider


@pytest.fixture
def pending(make, db):
    """A wallet (R 100) and a pending R 75.00 card payment its resident started."""
    wallet = make.wallet("100.00")
    resident = make.resident(wallet, email="payer@example.test")
    payment = payments.start_payment(db, wallet.id, "75.00", "card", now=utcnow(),
                                     user_id=resident.id).payment
    # Ids only: each request ends the thread's session, detaching whatever it loaded.
    return SimpleNamespace(wallet_id=wallet.id, payment_id=payment.id)


def state(db, pending) -> tuple:
    """(balance, payment status, ledger rows of the wallet) as stored now."""
    db.remove()
    return (db.get(Wallet, pending.wallet_id).balance, db.get(Payment, pending.payment_id).status,
            db.scalar(select(func.count()).select_from(Transaction)
                      .where(Transaction.wallet_id == pending.wallet_id)))


UNTOUCHED = (Decimal("100.00"), "pending", 0)
CREDITED = (Decimal("175.00"), "succeeded", 1)


def refused(response, status: int, code: str) -> None:
    """A refusal in the API's error shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


# -- what a valid message does ----------------------------------------------------------------

def test_a_valid_success_credits_once_and_a_replay_changes_nothing(client, db, pending):
    """The same message again (same webhook-id, body and signature, as a provider's retry or
    an attacker's replay within the five minutes): 200, nothing more credited."""
    message = provider.signed(pending.payment_id, "75.00", provider_ref="prov_1")
    first = provider.post(client, *message)
    assert first.status_code == 200, first.get_json()
    assert state(db, pending) == CREDITED
    stored = db.get(Payment, pending.payment_id)
    assert stored.provider_ref == "prov_1" and stored.settled_at is not None
    assert stored.webhook_id == message[1]["webhook-id"]
    replay = provider.post(client, *message)
    assert replay.status_code == 200 and replay.get_json()["payment"]["status"] == "succeeded"
    assert state(db, pending) == CREDITED


def test_a_second_valid_message_for_a_settled_payment_changes_nothing(client, db, pending):
    """A new webhook-id for the same success, or a late `payment.failed`: 200, nothing moves."""
    assert provider.post(client, *provider.signed(pending.payment_id, "75.00")).status_code \
        == 200
    for event in ("payment.succeeded", "payment.failed"):
        r = provider.post(client, *provider.signed(pending.payment_id, "75.00", event))
        assert r.status_code == 200 and r.get_json()["payment"]["status"] == "succeeded"
    assert state(db, pending) == CREDITED


def test_a_declined_payment_credits_nothing_and_stays_declined(client, db, pending):
    r = provider.post(client, *provider.signed(pending.payment_id, "75.00", "payment.failed"))
    assert r.status_code == 200
    body = r.get_json()["payment"]
    assert (body["status"], body["failure_reason"], body["transaction_id"]) == (
        "failed", "The payment was declined.", None)
    assert state(db, pending) == (Decimal("100.00"), "failed", 0)
    late = provider.post(client, *provider.signed(pending.payment_id, "75.00"))
    assert late.status_code == 200 and state(db, pending) == (Decimal("100.00"), "failed", 0)


# -- what is refused, changing nothing -------------------------------------------------------

def test_a_forged_signature_is_refused(client, db, pending):
    """Signed with another secret, a body changed after signing, a signature for another
    webhook-id, no signature at all: 401, nothing credited."""
    body, headers = provider.signed(pending.payment_id, "75.00", secret=provider.OTHER_SECRET)
    refused(provider.post(client, body, headers), 401, "invalid_signature")
    body, headers = provider.signed(pending.payment_id, "1.00")
    tampered = body.replace(b'"1.00"', b'"75.00"')
    refused(provider.post(client, tampered, headers), 401, "invalid_signature")
    body, headers = provider.signed(pending.payment_id, "75.00")
    refused(provider.post(client, body, {**headers, "webhook-id": "msg_other"}), 401,
            "invalid_signature")
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        stripped = {k: v for k, v in headers.items() if k != missing}
        refused(provider.post(client, body, stripped), 401, "invalid_signature")
    refused(provider.post(client, body, {**headers, "webhook-signature": "v1,AAAA"}), 401,
            "invalid_signature")
    assert state(db, pending) == UNTOUCHED


@pytest.mark.parametrize("minutes", [-6, 6, -60 * 24])
def test_a_stale_or_future_timestamp_is_refused_even_correctly_signed(client, db, pending,
                                                                      minutes):
    """A message signed more than five minutes from now (a capture replayed later, or a
    clock far off): 401 stale_webhook."""
    message = provider.signed(pending.payment_id, "75.00",
                              when=utcnow() + timedelta(minutes=minutes))
    refused(provider.post(client, *message), 401, "stale_webhook")
    assert state(db, pending) == UNTOUCHED


def test_an_amount_that_does_not_match_is_refused(client, db, pending):
    """Correctly signed, but for R 7.50 or R 750.00 instead of R 75.00: 422, nothing moves."""
    for amount in ("7.50", "750.00"):
        r = provider.post(client, *provider.signed(pending.payment_id, amount))
        refused(r, 422, "amount_mismatch")
        assert "75.00" in r.get_json()["error"]["fields"]["data.amount"]
    assert state(db, pending) == UNTOUCHED


def test_an_unknown_payment_is_404(client, db, pending):
    refused(provider.post(client, *provider.signed(987654, "75.00")), 404, "not_found")
    assert state(db, pending) == UNTOUCHED


@pytest.mark.parametrize("body, field", [
    ({"type": "payment.refunded", "data": {"payment_id": 1, "amount": "1.00",
                                           "provider_ref": "x"}}, "type"),
    ({"type": "payment.succeeded", "data": "nope"}, "data"),
    ({"type": "payment.succeeded", "data": {"payment_id": "1", "amount": "1.00",
                                            "provider_ref": "x"}}, "data.payment_id"),
    ({"type": "payment.succeeded", "data": {"payment_id": 1, "amount": 1,
                                            "provider_ref": "x"}}, "data.amount"),
    ({"type": "payment.succeeded", "data": {"payment_id": 1, "amount": "1.00"}},
     "data.provider_ref"),
    ({"type": "payment.succeeded", "data": {}, "extra": 1}, "extra"),
    ({"type": "payment.succeeded", "data": {"payment_id": 1, "amount": "1.00",
                                            "provider_ref": "x", "colour": "red"}},
     "data.colour"),
    ({"type": "payment.succeeded", "data": {"payment_id": 1, "amount": "1.00",
                                            "provider_ref": "tab\there"}}, "data.provider_ref"),
])
def test_a_signed_body_of_the_wrong_shape_is_422(client, db, pending, body, field):
    """Signed, but not the shape the document gives: 422 naming the field."""
    raw = json.dumps(body).encode()
    headers = {**payments.sign(provider.SECRET, raw, msg_id=f"msg_{uuid.uuid4().hex}",
                               timestamp=utcnow()), "Content-Type": "application/json"}
    r = provider.post(client, raw, headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["error"]["fields"]
    assert state(db, pending) == UNTOUCHED


def test_a_browser_session_is_no_substitute_for_the_signature(auth, make, db, pending):
    """Signed in (operator or the payer), with the page's CSRF token: an unsigned webhook is
    still 401. And no session, CSRF or token is needed with a valid signature."""
    make.user("operator", email="office@example.test")
    for email in ("office@example.test", "payer@example.test"):
        assert auth.login(email).status_code == 302
        body, _ = provider.signed(pending.payment_id, "75.00")
        r = auth.client.post(provider.WEBHOOK, data=body, content_type="application/json",
                             headers={"X-CSRFToken": auth.csrf})
        refused(r, 401, "invalid_signature")
        auth.client.post("/logout", data={"csrf_token": auth.csrf})
    assert state(db, pending) == UNTOUCHED
    fresh = auth.client.application.test_client()
    assert provider.post(fresh, *provider.signed(pending.payment_id, "75.00")).status_code == 200
    assert state(db, pending) == CREDITED


# -- exactly once under racing deliveries -----------------------------------------------------

def test_exactly_once_under_concurrent_valid_webhooks(app, db, make):
    """Eight threads deliver valid messages for the same payment at the same moment (half the
    same message, half new webhook-ids), five payments in a row, on the real database: each
    payment credits its wallet once, with one ledger row, and every delivery answers 200."""
    wallet = make.wallet("0.00")
    resident = make.resident(wallet, email="racer@example.test")
    threads = 8
    for round_ in range(5):
        payment = payments.start_payment(db, wallet.id, "10.00", "instant_eft",
                                         now=utcnow(), user_id=resident.id).payment
        same = provider.signed(payment.id, "10.00")
        messages = [same if i % 2 else provider.signed(payment.id, "10.00")
                    for i in range(threads)]
        barrier = Barrier(threads)

        def deliver(message, barrier=barrier):
            """One provider delivery from its own client, released with the others."""
            client = app.test_client()
            barrier.wait()
            return provider.post(client, *message).status_code

        with ThreadPoolExecutor(threads) as pool:
            statuses = list(pool.map(deliver, messages))
        assert statuses == [200] * threads, statuses
        db.remove()
        ledger = db.scalars(select(Transaction).where(Transaction.wallet_id == wallet.id)).all()
        assert len(ledger) == round_ + 1, [t.id for t in ledger]
        assert db.get(Wallet, wallet.id).balance == Decimal("10.00") * (round_ + 1)
        assert db.get(Payment, payment.id).transaction_id == ledger[-1].id
