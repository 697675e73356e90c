"""The deliveries queue with a real Celery worker: a notification made by a transaction task
reaches the SMS gateway through the kick, and a worker killed after the provider accepted an
SMS and before its row was updated never sends it again; the sweep fails it "outcome
unknown" for operators to check and Retry.

Runs on a private stack (tests/chaos.py: its own database and Redis) whose worker reaches
the SMS gateway played by an HTTP server in this process."""
from __future__ import annotations

import threading
import time

import pytest
from celery import Celery
from sqlalchemy import select

from dashboard.cli.redis_server import free_port
from dashboard.cli.sinks import SmsSink, sms_url
from dashboard.models import NotificationDelivery, QuietHours, utcnow
from dashboard.services.channels import delivery as delivery_service
from dashboard.services.payments import transactions
from dashboard.services.scans import credit_alerts
from tests import factories
from tests.channels_kit import resident_with
from tests.chaos import KillableStack, wait_until

pytestmark = pytest.mark.stack
D = NotificationDelivery


@pytest.fixture
def gateway():
    """An SMS gateway that records each POST, then answers as `gateway.hold` says."""
    accepted, release = threading.Event(), threading.Event()
    state = {"hold": False}

    def answer(record):
        """Accept; while holding, keep the sender waiting for the answer."""
        accepted.set()
        if state["hold"]:
            release.wait(30)
        return None

    sink = SmsSink(free_port(), answer=answer).start()
    sink.accepted, sink.release, sink.state = accepted, release, state
    yield sink
    release.set()
    sink.stop()


@pytest.fixture
def private_stack(tmp_path, gateway):
    """A worker (no web) whose SMS goes to the gateway; email off."""
    stack = KillableStack(tmp_path, SMS_URL=sms_url(gateway.server_address[1]),
                          DELIVERY_SENDING_TIMEOUT="3", CELERY_VISIBILITY_TIMEOUT="4",
                          CHANNEL_TIMEOUT_SECONDS="20", WORKER_CONCURRENCY="1")
    yield stack
    stack.close()


def _resident(stack, balance: str) -> int:
    """A wallet (threshold R 50) whose resident has a mobile number and no quiet hours."""
    with stack.session() as s:
        wallet = factories.wallet(s, balance)
        user = resident_with(s, wallet, email=None, phone="082 123 4567")
        s.merge(QuietHours(user_id=user.id, start_minute=0, end_minute=0))
        return wallet.id


def _sms(stack) -> NotificationDelivery:
    """The one SMS delivery, fresh."""
    with stack.session() as s:
        row = s.scalars(select(D).where(D.channel == "sms")).one()
        s.expunge(row)
        return row


def test_a_purchase_by_a_task_reaches_the_sms_gateway(private_stack, gateway):
    stack = private_stack
    stack.start("worker")
    wallet_id = _resident(stack, "60.00")
    with stack.session() as s:
        operator = factories.user(s, "operator")

        result = transactions.purchase(s, wallet_id, "electricity", "55.00", now=utcnow(),
                                       user_id=operator.id)
        tx_id = result.transaction.id
    broker = Celery(broker=stack.redis_url)
    broker.send_task("check_wallet_after_transaction", kwargs={"wallet_id": wallet_id,
                                                              "transaction_id": tx_id},
                     queue="notifications")
    wait_until(lambda: _sms(stack).status == "sent" if _has_sms(stack) else False, timeout=30,
               what="the SMS to be sent")
    [message] = gateway.messages
    assert message["to"] == "+27821234567" and "R 5.00" in message["message"]


def _has_sms(stack) -> bool:
    """An SMS delivery exists."""
    with stack.session() as s:
        return s.scalar(select(D.id).where(D.channel == "sms")) is not None


def test_a_worker_killed_after_the_provider_accepted_never_sends_again(private_stack, gateway):
    """The window: the gateway has the SMS, the worker dies before writing `sent`. The task
    comes back (acks late, visibility timeout) and finds the row `sending`, so it sends
    nothing; a second task sends nothing; the sweep fails it "outcome unknown"."""
    stack = private_stack
    wallet_id = _resident(stack, "5.00")
    with stack.session() as s:
        credit_alerts.check_wallet(s, wallet_id, utcnow().replace(microsecond=0))
    gateway.state["hold"] = True
    stack.start("worker")
    broker = Celery(broker=stack.redis_url)
    broker.send_task("send_deliveries", args=("sms",), queue="deliveries")
    assert gateway.accepted.wait(30), stack.log("worker")[-3000:]
    assert _sms(stack).status == "sending"
    stack.kill("worker")  # the provider accepted; the row still says `sending`
    gateway.release.set()
    gateway.state["hold"] = False
    stack.start("worker")
    broker.send_task("send_deliveries", args=("sms",), queue="deliveries")  # a double
    time.sleep(6)  # past the visibility timeout: the killed task is delivered again
    assert _sms(stack).status == "sending"
    broker.send_task("sweep_deliveries", queue="deliveries")
    row = wait_until(lambda: (lambda r: r if r.status == "failed" else None)(_sms(stack)),
                     timeout=20, what="the sweep to fail the stale send")
    assert row.error == delivery_service.OUTCOME_UNKNOWN and row.attempts == 1
    assert len(gateway.requests_seen) == 1  # sent once, never again
    assert "send_deliveries" in stack.log("worker")
