"""Webhooks through the real worker (queue `deliveries`) on real Redis: an operator
registers a receiver through the API, a purchase makes a wallet low, and the sweep task
hands the messages to send tasks that sign and post them; a receiver that answers 500 first
gets that message again after its backoff, and every message exactly once with a 2xx."""
from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from celery import Celery
from sqlalchemy import select

from dashboard.models import Notification, WebhookAttempt, WebhookMessage
from tests import factories
from tests.stack import wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.stack


@pytest.fixture
def celery_client(stack):
    """A Celery client on the stack's broker."""
    app = Celery("webhook-tests", broker=stack.redis_url)
    yield app
    app.close()


def test_signed_events_are_retried_after_a_500_and_delivered_once(stack, celery_client):
    """500, then 200: the purchase's wallet.state_changed and both notification.created
    (purchase_success, low_credit) arrive verified, each 2xx once, the first twice in all."""
    email = f"hook-op-{uuid.uuid4().hex[:8]}@example.test"
    with stack.session() as s:
        factories.user(s, "operator", email=email)
        wallet_id = factories.wallet(s, "100.00", threshold="50.00").id
    token = stack.token(email)
    receiver = Receiver(statuses=(500, 200))
    made = stack.api("POST", "/webhooks", token, json={
        "url": receiver.url, "events": ["notification.created", "wallet.state_changed"]})
    assert made.status_code == 201, made.text
    endpoint = made.json()
    try:
        r = stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
                      json={"utility": "electricity", "amount": "70.00"})
        assert r.status_code == 201, r.text

        def delivered():
            """True once three or more messages exist and every one is delivered."""
            celery_client.send_task("sweep_webhooks", queue="deliveries")
            time.sleep(0.5)
            with stack.session() as s:
                states = s.scalars(select(WebhookMessage.status).where(
                    WebhookMessage.endpoint_id == endpoint["id"])).all()
            return len(states) >= 3 and set(states) == {"delivered"}

        wait_for(delivered, timeout=40, interval=0.5)
        bodies = [b for b in receiver.verified(endpoint["secret"])
                  if b["data"].get("wallet_id", b["data"].get("id")) == wallet_id]
        kinds = {(b["type"], b["data"].get("type", b["data"].get("state"))) for b in bodies}
        assert kinds == {("wallet.state_changed", "low"),
                         ("notification.created", "purchase_success"),
                         ("notification.created", "low_credit")}
        changed = next(b for b in bodies if b["type"] == "wallet.state_changed")
        assert changed["data"]["previous_state"] == "ok" and changed["data"]["balance"] == "30.00"
        with stack.session() as s:
            stored = {n.type: n.id for n in s.scalars(
                select(Notification).where(Notification.wallet_id == wallet_id))}
        assert {b["data"]["id"] for b in bodies if b["type"] == "notification.created"} == {
            stored["purchase_success"], stored["low_credit"]}
        time.sleep(1)  # anything sent twice would have arrived by now
        counts = Counter(receiver.ids())
        assert counts[receiver.ids()[0]] == 2  # the 500, then its retry
        assert all(n == 1 for mid, n in counts.items() if mid != receiver.ids()[0])
        with stack.session() as s:
            codes = [a.status_code for a in s.scalars(
                select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint["id"])
                .order_by(WebhookAttempt.id))]
        # Attempts of one batch are logged in message order, not in the order they landed.
        assert codes.count(500) == 1 and len(codes) == len(receiver.ids())
        assert set(codes) == {500, 200}
        attempts = stack.api("GET", f"/webhooks/{endpoint['id']}/attempts", token).json()
        assert sorted(a["status_code"] for a in attempts["items"]) == sorted(codes)
        assert all(a["webhook_id"] == f"msg_{a['message_id']}" for a in attempts["items"])
    finally:
        stack.api("DELETE", f"/webhooks/{endpoint['id']}", token)
        receiver.close()
