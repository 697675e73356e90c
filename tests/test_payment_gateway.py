"""The test payment gateway (development and tests): the payer's page with Pay and Decline,
the provider's signed webhook it has the worker send, and production refusing it."""
from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
import redis
import requests
from celery import Celery

from dashboard.models import Notification, Payment, Wallet, utcnow
from dashboard.services import payments
from tests import factories, provider
from tests.conftest import csrf_from, private_broker_url
from tests.stack import wait_for


@pytest.fixture
def payer(auth, make, db):
    """A resident signed in with a pending R 75.00 payment into their wallet (R 100)."""
    wallet = make.wallet("100.00")
    user = make.resident(wallet, email="payer@example.test")
    payment_id = payments.start_payment(db, wallet.id, "75.00", "card", now=utcnow(),
                                        user_id=user.id).payment.id
    assert auth.login("payer@example.test").status_code == 302
    return SimpleNamespace(auth=auth, wallet_id=wallet.id, payment_id=payment_id,
                           url=f"/dev/gateway/{payment_id}")


def queued_deliveries(redis_url) -> list[dict]:
    """The gateway webhooks waiting on the app's private broker: headers and kwargs."""
    r = redis.Redis.from_url(private_broker_url(redis_url))
    found = []
    for raw in reversed(r.lrange("notifications", 0, -1)):
        headers = json.loads(raw)["headers"]
        if headers["task"] == "deliver_test_gateway_webhook":
            found.append(headers)
    return found


def test_the_gateway_page_shows_the_amount_with_pay_and_decline(payer):
    html = payer.auth.client.get(payer.url).get_data(as_text=True)
    assert "Test payment gateway" in html and "R 75.00" in html
    assert re.search(r'<button type="submit" name="outcome" value="pay"[^>]*>Pay</button>', html)
    assert re.search(r'<button type="submit" name="outcome" value="decline"[^>]*>Decline<', html)
    assert 'name="csrf_token"' in html


def test_only_the_payer_reaches_their_payment_on_the_gateway(payer, app, make, db):
    """Another resident and staff: 404; signed out: to sign-in."""
    from tests.conftest import Auth

    other = make.wallet("5.00")
    make.resident(other, email="other@example.test")
    make.user("operator", email="office@example.test")
    for email in ("other@example.test", "office@example.test"):
        someone = Auth(app.test_client())
        someone.login(email)
        assert someone.client.get(payer.url).status_code == 404, email
        r = someone.client.post(payer.url, data={"outcome": "pay", "csrf_token": someone.csrf})
        assert r.status_code == 404, email
    anonymous = app.test_client().get(payer.url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_pay_needs_the_csrf_token_like_every_form(payer, db, redis_url):
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    for data in ({"outcome": "pay"}, {"outcome": "pay", "csrf_token": "forged"}):
        r = payer.auth.client.post(payer.url, data=data)
        assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert queued_deliveries(redis_url) == []


@pytest.mark.parametrize("outcome, event", [("pay", "payment.succeeded"),
                                            ("decline", "payment.failed")])
def test_pay_or_decline_has_the_worker_send_the_providers_webhook(payer, db, redis_url,
                                                                  outcome, event):
    """Back to the wallet page at once; the signed webhook is queued for the worker a moment
    later, to our own endpoint; nothing is credited here."""
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    r = payer.auth.client.post(payer.url, data={"outcome": outcome,
                                                "csrf_token": payer.auth.csrf})
    assert r.status_code == 303
    assert r.headers["Location"] == f"/me/wallets/{payer.wallet_id}#payment-{payer.wallet_id}"
    [task] = queued_deliveries(redis_url)
    assert task["eta"] is not None  # a callback comes a moment after the redirect
    assert f"'payment_id': {payer.payment_id}" in task["kwargsrepr"]
    assert f"'event': '{event}'" in task["kwargsrepr"]
    assert "'webhook_url': 'http://localhost/api/v1/payments/webhook'" in task["kwargsrepr"]
    db.remove()
    assert db.get(Payment, payer.payment_id).status == "pending"
    assert db.get(Wallet, payer.wallet_id).balance == Decimal("100.00")


def test_a_bad_choice_is_422_and_a_settled_payment_is_not_sent_again(payer, app, db,
                                                                     redis_url):
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    bad = payer.auth.client.post(payer.url, data={"outcome": "steal",
                                                  "csrf_token": payer.auth.csrf})
    assert bad.status_code == 422 and "Press Pay or Decline." in bad.get_data(as_text=True)
    assert provider.post(app.test_client(), *provider.signed(payer.payment_id, "75.00")) \
        .status_code == 200
    again = payer.auth.client.post(payer.url, data={"outcome": "pay",
                                                    "csrf_token": payer.auth.csrf})
    assert again.status_code == 303 and queued_deliveries(redis_url) == []
    page = payer.auth.client.get(payer.url).get_data(as_text=True)
    assert "Payment received" in page and 'value="pay"' not in page


# -- production refuses it -------------------------------------------------------------------

def production_env(monkeypatch, **env) -> None:
    """A production environment that is otherwise valid, with `env` on top."""
    monkeypatch.setenv("SECRET_KEY", uuid.uuid4().hex + uuid.uuid4().hex)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", provider.fresh_secret())
    monkeypatch.delenv("PAYMENT_TEST_GATEWAY", raising=False)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize("env, words", [
    ({"PAYMENT_TEST_GATEWAY": "1"}, "PAYMENT_TEST_GATEWAY"),
    ({"PAYMENT_WEBHOOK_SECRET": None}, "PAYMENT_WEBHOOK_SECRET"),
    ({"PAYMENT_WEBHOOK_SECRET": provider.SECRET}, "development PAYMENT_WEBHOOK_SECRET"),
    ({"PAYMENT_WEBHOOK_SECRET": "whsec_tooshort"}, "PAYMENT_WEBHOOK_SECRET"),
    ({"PAYMENT_WEBHOOK_SECRET": "not-a-whsec-secret"}, "PAYMENT_WEBHOOK_SECRET"),
])
def test_production_refuses_the_gateway_and_a_development_or_missing_secret(monkeypatch,
                                                                            env, words):
    import config

    production_env(monkeypatch, **env)
    with pytest.raises(RuntimeError, match=words):
        config.get_config("production")


def test_a_production_app_has_no_gateway_and_cannot_be_given_one(monkeypatch, tmp_path,
                                                                 redis_url):
    from dashboard import create_app
    from dashboard.views import gateway
    from tests.conftest import app_config, fast_database

    production_env(monkeypatch)
    app = create_app("production", **app_config(fast_database(tmp_path), redis_url,
                                                SOCKETIO_ASYNC_MODE="threading"))
    assert not [r for r in app.url_map.iter_rules() if r.rule.startswith("/dev/")]
    assert app.test_client().get("/dev/gateway/1").status_code == 404
    with pytest.raises(RuntimeError, match="never enabled in production"):
        gateway.register(app)


# -- the whole flow on the live stack: page, worker, webhook, notification -------------------

def _browser(stack, email) -> requests.Session:
    """A signed-in requests session (a browser without JavaScript)."""
    browser = requests.Session()
    token = csrf_from(browser.get(stack.url + "/login", timeout=10).text)
    r = browser.post(stack.url + "/login", timeout=10, data={
        "email": email, "password": "correct-horse-battery", "csrf_token": token})
    assert r.status_code == 200 and "/me/" in r.url
    return browser


@pytest.mark.stack
@pytest.mark.parametrize("button, status, balance", [("pay", "succeeded", "142.50"),
                                                     ("decline", "failed", "100.00")])
def test_top_up_through_the_gateway_on_the_live_stack(stack, button, status, balance):
    """Top up on the page (no JavaScript) → the gateway → Pay or Decline → the worker posts
    the signed webhook to the web → credited once with its topup_success, or declined."""
    email = f"gw-{uuid.uuid4().hex[:8]}@example.test"
    with stack.session() as s:
        wallet = factories.wallet(s, "100.00")
        factories.resident(s, wallet, email=email)
        wallet_id = wallet.id
    browser = _browser(stack, email)
    page = browser.get(f"{stack.url}/me/wallets/{wallet_id}", timeout=10).text
    key = re.search(r'id="topup-form-\d+".*?name="idempotency_key" value="([^"]+)"', page,
                    re.DOTALL).group(1)
    started = browser.post(f"{stack.url}/me/wallets/{wallet_id}/topups", timeout=10, data={
        "amount": "42.50", "method": "card", "idempotency_key": key,
        "csrf_token": csrf_from(page)}, allow_redirects=False)
    assert started.status_code == 303 and "/dev/gateway/" in started.headers["Location"]
    gateway = browser.get(started.headers["Location"], timeout=10)
    assert "R 42.50" in gateway.text
    back = browser.post(gateway.url, timeout=10, data={
        "outcome": button, "csrf_token": csrf_from(gateway.text)})
    assert "Waiting for your bank to confirm R 42.50." in back.text  # the webhook comes later
    token = stack.token(email)
    payment_id = int(gateway.url.rsplit("/", 1)[1])
    settled = wait_for(lambda: (lambda p: p if p["status"] != "pending" else None)(
        stack.api("GET", f"/payments/{payment_id}", token).json()), timeout=30, interval=0.2)
    assert settled["status"] == status
    assert stack.api("GET", f"/wallets/{wallet_id}", token).json()["balance"] == balance
    if status == "succeeded":
        def notice():
            with stack.session() as s:
                return s.query(Notification).filter_by(
                    type="topup_success", transaction_id=settled["transaction_id"]).count()
        assert wait_for(notice, timeout=30) == 1
    else:
        ledger = stack.api("GET", f"/wallets/{wallet_id}/transactions", token).json()
        assert ledger["items"] == [] and settled["failure_reason"]


@pytest.mark.stack
def test_the_worker_expires_overdue_payments(stack):
    """Beat's `expire_payments`, run by the real worker: the overdue payment is expired."""
    from datetime import timedelta

    with stack.session() as s:
        wallet = factories.wallet(s, "10.00")
        user = factories.resident(s, wallet, email=f"exp-{uuid.uuid4().hex[:8]}@example.test")
        s.commit()
        overdue = payments.start_payment(s, wallet.id, "5.00", "card", user_id=user.id,
                                         now=utcnow() - timedelta(minutes=40)).payment.id
    client = Celery("expiry-test", broker=stack.redis_url, backend=stack.redis_url)
    try:
        result = client.send_task("expire_payments", queue="notifications").get(timeout=30)
    finally:
        client.close()
    assert overdue in result["expired"]
    with stack.session() as s:
        assert s.get(Payment, overdue).status == "expired"
