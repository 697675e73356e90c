"""Payments through the API: a resident's top-up is a pending payment that credits nothing
until the provider's signed webhook confirms it; the office's top-ups stay immediate and
record who made them; payers see only their own payments; unpaid payments expire."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from threading import Barrier
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import func, select

from dashboard.models import Payment, Transaction, Wallet, utcnow
from dashboard.services import payments
from dashboard.services.scans.catalogue import HOUSEKEEPING
from tests import provider
from tests.conftest import private_broker_url


@pytest.fixture
def home(app, make, db, client):
    """A wallet (R 100) with two residents, a neighbour's wallet, an operator and a viewer,
    each with bearer headers."""
    wallet = make.wallet("100.00")
    me = make.resident(wallet, email="payer@example.test")
    make.resident(wallet, email="flatmate@example.test", name=("Flat", "Mate"))
    other = make.wallet("70.00")
    make.resident(other, email="neighbour@example.test")
    operator = make.user("operator", email="office@example.test")
    make.user("viewer", email="viewer@example.test")

    def token(email):
        """Bearer headers through POST /auth/token."""
        r = client.post("/api/v1/auth/token", json={"email": email,
                                                    "password": "correct-horse-battery"})
        return {"Authorization": f"Bearer {r.get_json()['token']}"}

    return SimpleNamespace(wallet=wallet, other=other, me=me, operator=operator,
                           headers={who: token(f"{who}@example.test") for who in
                                    ("payer", "flatmate", "neighbour", "office", "viewer")})


def balance(db, wallet_id) -> Decimal:
    """The wallet's balance as stored now."""
    db.remove()
    return db.get(Wallet, wallet_id).balance


def count(db, model, **where) -> int:
    """Rows of `model` matching column values."""
    db.remove()
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.scalar(query)


def start(client, home, amount="100.00", method="card", who="payer", key=None):
    """POST /wallets/<id>/topups as `who`."""
    headers = {**home.headers[who], **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/api/v1/wallets/{home.wallet.id}/topups", headers=headers,
                       json={"amount": amount, "method": method})


def queued(redis_url) -> list[tuple[str, str]]:
    """(task name, kwargs repr) of every task the app queued on its private broker."""
    r = redis.Redis.from_url(private_broker_url(redis_url))
    return [(json.loads(raw)["headers"]["task"], json.loads(raw)["headers"]["kwargsrepr"])
            for raw in reversed(r.lrange("notifications", 0, -1))]


# -- a resident's top-up is a payment ---------------------------------------------------------

def test_a_residents_top_up_credits_nothing_until_a_valid_webhook(client, db, home,
                                                                  redis_url):
    """202 {payment: pending, redirect_url}; the balance, the ledger and the queue stay as
    they were until the provider's signed webhook, which credits once and queues the
    top-up's real-time tasks like any top-up."""
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    r = start(client, home)
    assert r.status_code == 202, r.get_json()
    payment = r.get_json()["payment"]
    assert {k: payment[k] for k in ("status", "amount", "method", "wallet_id",
                                    "transaction_id")} == {
        "status": "pending", "amount": "100.00", "method": "card",
        "wallet_id": home.wallet.id, "transaction_id": None}
    assert payment["redirect_url"] == f"http://localhost/dev/gateway/{payment['id']}"
    assert balance(db, home.wallet.id) == Decimal("100.00")
    assert count(db, Transaction, wallet_id=home.wallet.id) == 0 and queued(redis_url) == []
    read = client.get(f"/api/v1/payments/{payment['id']}", headers=home.headers["payer"])
    assert read.status_code == 200 and read.get_json()["status"] == "pending"

    answer = provider.post(client, *provider.signed(payment["id"], "100.00"))
    assert answer.status_code == 200, answer.get_json()
    settled = answer.get_json()["payment"]
    assert settled["status"] == "succeeded" and settled["redirect_url"] is None
    assert balance(db, home.wallet.id) == Decimal("200.00")
    tx = db.get(Transaction, settled["transaction_id"])
    assert (tx.type, tx.amount, tx.method, tx.created_by_id, tx.balance_after) == (
        "topup", Decimal("100.00"), "card", home.me.id, Decimal("200.00"))
    assert ("send_topup_notification", f"{{'transaction_id': {tx.id}}}") in queued(redis_url)
    ledger = client.get(f"/api/v1/wallets/{home.wallet.id}/transactions",
                        headers=home.headers["payer"]).get_json()["items"]
    assert [t["id"] for t in ledger] == [tx.id]


def test_a_replayed_idempotency_key_returns_the_first_payment(client, db, home):
    """The same key: 200 with the first payment, never a second; the key with another body:
    409; without a key every request is a new payment."""
    first = start(client, home, key="phone-1")
    assert first.status_code == 202
    again = start(client, home, key="phone-1")
    assert again.status_code == 200
    assert again.get_json()["payment"]["id"] == first.get_json()["payment"]["id"]
    changed = start(client, home, amount="99.00", key="phone-1")
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "idempotency_key_reused"
    assert count(db, Payment, wallet_id=home.wallet.id) == 1
    assert start(client, home).status_code == 202
    assert count(db, Payment, wallet_id=home.wallet.id) == 2


@pytest.mark.parametrize("method", ["eft", "cash", "manual_admin"])
def test_residents_pay_by_card_or_instant_eft_only(client, db, home, method):
    """EFT into the estate's account, cash and manual entries are the office's to record."""
    r = start(client, home, method=method)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"]["method"] == "Choose one of: card, instant_eft."
    assert count(db, Payment) == 0 and balance(db, home.wallet.id) == Decimal("100.00")


def test_a_resident_cannot_pay_into_a_neighbours_wallet(client, db, home):
    r = client.post(f"/api/v1/wallets/{home.other.id}/topups", headers=home.headers["payer"],
                    json={"amount": "5.00", "method": "card"})
    assert r.status_code == 404 and count(db, Payment) == 0


def test_without_anywhere_to_pay_a_residents_top_up_is_503(db_url, redis_url, make, db):
    """No test gateway and no PAYMENT_CHECKOUT_URL: refused, nothing started."""
    from dashboard import create_app
    from tests.conftest import app_config

    app = create_app("testing", **app_config(db_url, redis_url, PAYMENT_TEST_GATEWAY=False,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    wallet = make.wallet("10.00")
    make.resident(wallet, email="nowhere@example.test")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={
        "email": "nowhere@example.test", "password": "correct-horse-battery"}).get_json()
    r = client.post(f"/api/v1/wallets/{wallet.id}/topups", json={"amount": "5", "method": "card"},
                    headers={"Authorization": f"Bearer {token['token']}"})
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "payments_unavailable"
    assert count(db, Payment) == 0
    assert client.get("/dev/gateway/1").status_code == 404  # the gateway is not there at all


def test_a_real_providers_page_is_the_checkout_url_filled_in(db_url, redis_url, make):
    """PAYMENT_CHECKOUT_URL names the payment, the amount, the method and where to come back."""
    from dashboard import create_app
    from tests.conftest import app_config

    template = "https://pay.example.test/checkout?ref={payment_id}&amt={amount}&back={return_url}"
    app = create_app("testing", **app_config(db_url, redis_url, PAYMENT_TEST_GATEWAY=False,
                                             PAYMENT_CHECKOUT_URL=template))
    wallet = make.wallet("10.00")
    make.resident(wallet, email="real@example.test")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={
        "email": "real@example.test", "password": "correct-horse-battery"}).get_json()["token"]
    r = client.post(f"/api/v1/wallets/{wallet.id}/topups", json={"amount": "25", "method": "card"},
                    headers={"Authorization": f"Bearer {token}"})
    payment = r.get_json()["payment"]
    assert payment["redirect_url"] == (
        f"https://pay.example.test/checkout?ref={payment['id']}&amt=25.00&back="
        f"http%3A%2F%2Flocalhost%2Fme%2Fwallets%2F{wallet.id}%23payment-{wallet.id}")


# -- the office's top-ups stay immediate ------------------------------------------------------

@pytest.mark.parametrize("method", ["cash", "eft", "manual_admin"])
def test_an_operators_top_up_is_immediate_and_records_who_made_it(client, db, home, method):
    r = start(client, home, amount="40.00", method=method, who="office")
    assert r.status_code == 201, r.get_json()
    tx = r.get_json()["transaction"]
    assert (tx["balance_after"], tx["method"]) == ("140.00", method)
    assert db.get(Transaction, tx["id"]).created_by_id == home.operator.id
    assert count(db, Payment) == 0


@pytest.mark.parametrize("method", ["card", "instant_eft"])
def test_card_and_instant_eft_are_the_residents_not_the_offices(client, db, home, method):
    r = start(client, home, method=method, who="office")
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"]["method"] == "Choose one of: cash, eft, manual_admin."
    assert balance(db, home.wallet.id) == Decimal("100.00")


def test_viewers_cannot_top_up(client, db, home):
    assert start(client, home, method="cash", who="viewer").status_code == 403
    assert count(db, Transaction) == 0 and count(db, Payment) == 0


# -- who sees a payment -----------------------------------------------------------------------

def test_a_resident_sees_only_their_own_payments(client, home):
    """The payer: 200; a flatmate on the same wallet and a neighbour: 404 like a payment that
    does not exist; staff (operator and viewer): 200."""
    payment_id = start(client, home).get_json()["payment"]["id"]
    url = f"/api/v1/payments/{payment_id}"
    assert client.get(url, headers=home.headers["payer"]).status_code == 200
    for who in ("flatmate", "neighbour"):
        r = client.get(url, headers=home.headers[who])
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", who
    for who in ("office", "viewer"):
        assert client.get(url, headers=home.headers[who]).get_json()["id"] == payment_id
    assert client.get("/api/v1/payments/987654", headers=home.headers["office"]).status_code \
        == 404
    assert client.get(url).status_code == 401


# -- expiry -----------------------------------------------------------------------------------

def started_ago(db, home, minutes: float) -> Payment:
    """A payment of R 50 the payer started `minutes` ago."""
    result = payments.start_payment(db, home.wallet.id, "50.00", "card", user_id=home.me.id,
                                    now=utcnow() - timedelta(minutes=minutes))
    return result.payment


def test_a_payment_left_unpaid_for_30_minutes_reads_expired(client, db, home):
    """No beat needed: reading it settles it, once; a young one stays pending."""
    old, young = started_ago(db, home, 31), started_ago(db, home, 29)
    r = client.get(f"/api/v1/payments/{old.id}", headers=home.headers["payer"]).get_json()
    assert (r["status"], r["redirect_url"], r["failure_reason"]) == (
        "expired", None, "Not paid within 30 minutes.")
    assert r["settled_at"] is not None
    assert client.get(f"/api/v1/payments/{young.id}",
                      headers=home.headers["payer"]).get_json()["status"] == "pending"
    db.remove()
    assert db.get(Payment, old.id).status == "expired"


def test_the_sweep_expires_every_overdue_payment_in_one_statement(db, home):
    """expire_due (beat's `expire_payments`, every minute) expires the overdue ones only and
    names their wallets; a second sweep finds nothing."""
    assert HOUSEKEEPING["expire_payments"].minute == set(range(60))  # every minute
    overdue = [started_ago(db, home, 45).id, started_ago(db, home, 30).id]
    fresh = started_ago(db, home, 5).id
    done = payments.expire_due(db, utcnow())
    assert sorted(done) == sorted((pid, home.wallet.id) for pid in overdue)
    assert payments.expire_due(db, utcnow()) == []
    db.remove()
    assert [db.get(Payment, pid).status for pid in (*overdue, fresh)] == [
        "expired", "expired", "pending"]


def test_a_webhook_for_an_expired_payment_is_refused_and_credits_nothing(client, db, home):
    """409 payment_expired, even when the sweep has not run yet: the resident was told it
    expired (and may have paid again), so a late confirmation is the provider's to void."""
    late = started_ago(db, home, 31)
    r = provider.post(client, *provider.signed(late.id, "50.00"))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "payment_expired"
    assert balance(db, home.wallet.id) == Decimal("100.00") and count(db, Transaction) == 0
    assert db.get(Payment, late.id).status == "expired"
    again = provider.post(client, *provider.signed(late.id, "50.00"))
    assert again.status_code == 409 and count(db, Transaction) == 0


def test_a_new_payment_is_due_in_30_minutes(db, home):
    """start_payment's row: pending, due 30 minutes after it started, owned by the payer."""
    payment = started_ago(db, home, 0)
    assert (payment.status, payment.created_by_id) == ("pending", home.me.id)
    assert payment.expires_at - payment.created_at == timedelta(minutes=30)


def test_parallel_replays_of_one_key_start_one_payment(app, db, home):
    """20 requests with one Idempotency-Key at once (a phone retrying on a bad network): one
    202, nineteen 200 with the same payment, one row."""
    headers = {**home.headers["payer"], "Idempotency-Key": "pay-once"}
    barrier = Barrier(20)

    def post(_):
        """One request from its own client, released with the others."""
        client = app.test_client()
        barrier.wait()
        return client.post(f"/api/v1/wallets/{home.wallet.id}/topups", headers=headers,
                           json={"amount": "10.00", "method": "card"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    assert len({r.get_json()["payment"]["id"] for r in responses}) == 1
    assert count(db, Payment) == 1 and balance(db, home.wallet.id) == Decimal("100.00")
