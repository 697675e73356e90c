"""The real worker on real Redis (the `stack` fixture): real-time notices, alerts, Run now.

Tasks are sent through the broker exactly as the web app sends them; state changes are
observed in the database and on the Socket.IO message queue (Redis pub/sub) the web server
relays to browsers.
"""
import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
import redis
from celery import Celery

from dashboard.models import Notification, TaskRun, Wallet, utcnow
from dashboard.services.payments import transactions
from tests import factories
from tests.stack import wait_for

pytestmark = pytest.mark.stack



def operator(stack) -> str:
    """A fresh operator in the stack's database and its token."""
    email = f"worker-op-{uuid.uuid4().hex[:8]}@example.test"
    with stack.session() as s:
        factories.user(s, "operator", email=email)
    return stack.token(email)


def notifications_of(stack, **filters) -> list[Notification]:
    """Stored notifications matching column filters, oldest first."""
    with stack.session() as s:
        rows = s.query(Notification).filter_by(**filters).order_by(Notification.id).all()
        s.expunge_all()
        return rows


@pytest.fixture(scope="module")
def celery_client(stack):
    """A Celery client on the stack's broker, with the result backend to wait on results."""
    app = Celery("worker-tests", broker=stack.redis_url, backend=stack.redis_url)
    yield app
    app.close()


def send(celery_client, name, **kwargs):
    """Queue a task exactly as dashboard.dispatch does (queue `notifications`)."""
    return celery_client.send_task(name, kwargs=kwargs, queue="notifications")


class EventTap:
    """Listens to the stack's Socket.IO channel on Redis and keeps the events published."""

    def __init__(self, stack):
        self.pubsub = redis.Redis.from_url(stack.redis_url).pubsub()
        self.pubsub.subscribe(stack.channel)
        self.pubsub.get_message(timeout=5)  # the subscribe confirmation: we are listening
        self.events: list[tuple[str, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                data = json.loads(message["data"])
                if data.get("method") == "emit":
                    payload = data["data"]
                    if isinstance(payload, list):
                        payload = payload[0]
                    self.events.append((data["event"], payload))

    def of(self, event: str, **match) -> list[dict]:
        """Payloads of `event` whose fields equal `match`."""
        return [p for e, p in list(self.events)
                if e == event and all(p.get(k) == v for k, v in match.items())]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.pubsub.close()


@pytest.fixture
def tap(stack):
    """Events published while the test runs."""
    t = EventTap(stack)
    yield t
    t.close()


def test_purchase_stores_purchase_success_and_the_low_credit_alert(stack, tap):
    """A purchase crossing the threshold: purchase_success with the kWh, then low_credit,
    both stored by the worker and published to the browsers."""
    with stack.session() as s:
        w = factories.wallet(s, "60.00", threshold="50.00")
        wallet_id = w.id
    token = operator(stack)
    r = stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
                  json={"utility": "electricity", "amount": "25.00"})
    assert r.status_code == 201, r.text
    tx_id = r.json()["transaction"]["id"]
    started = time.monotonic()
    (notice,) = wait_for(lambda: notifications_of(stack, transaction_id=tx_id), timeout=5)
    elapsed = time.monotonic() - started
    assert notice.type == "purchase_success" and notice.data["units"] == "10.000"
    assert "10 kWh of electricity" in notice.message and "R 35.00" in notice.message
    assert elapsed < 1.0, elapsed
    (alert,) = wait_for(lambda: notifications_of(stack, wallet_id=wallet_id, type="low_credit"),
                        timeout=5)
    assert "R 35.00" in alert.message and alert.priority == "high"
    with stack.session() as s:
        assert s.get(Wallet, wallet_id).state == "low"
    published = wait_for(lambda: {p["type"] for p in tap.of("notification",
                                                            wallet_id=wallet_id)}
                         >= {"purchase_success", "low_credit"} or None, timeout=5)
    assert published
    assert wait_for(lambda: tap.of("wallet", id=wallet_id, state="low"), timeout=5)


def test_purchase_that_stays_above_the_threshold_alerts_nothing(stack):
    """No crossing, no credit alert: only the purchase notice."""
    with stack.session() as s:
        wallet_id = factories.wallet(s, "200.00", threshold="50.00").id
    token = operator(stack)
    r = stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
                  json={"utility": "water", "amount": "10.00"})
    tx_id = r.json()["transaction"]["id"]
    wait_for(lambda: notifications_of(stack, transaction_id=tx_id), timeout=5)
    time.sleep(0.5)  # the wallet check runs beside the notice; give it time to (not) alert
    kinds = [n.type for n in notifications_of(stack, wallet_id=wallet_id)]
    assert kinds == ["purchase_success"]


def test_real_time_tasks_delivered_twice_store_one_notification(stack, celery_client):
    """send_topup_notification and check_wallet_after_transaction each sent twice through the
    broker: the worker stores one topup_success and one critical_credit."""
    with stack.session() as s:
        wallet_id = factories.wallet(s, "1.00", threshold="50.00").id
        # The transaction made directly (no tasks queued): we deliver its tasks ourselves.
        tx_id = transactions.top_up(s, wallet_id, "2.00", "cash", now=utcnow()).transaction.id
    notices = [send(celery_client, "send_topup_notification", transaction_id=tx_id)
               for _ in range(2)]
    checks = [send(celery_client, "check_wallet_after_transaction", wallet_id=wallet_id,
                   transaction_id=tx_id) for _ in range(2)]
    made = sorted(len(r.get(timeout=15)["notifications"]) for r in notices)
    checked = sorted(len(r.get(timeout=15)["notifications"]) for r in checks)
    assert made == [0, 1] and checked == [0, 1]
    kinds = [n.type for n in notifications_of(stack, wallet_id=wallet_id)]
    assert sorted(kinds) == ["critical_credit", "topup_success"]


def test_run_now_goes_queued_running_succeeded_with_counts(stack, tap):
    """Run now: the run is published queued, then running, then succeeded with its counts,
    in that order, and the stored row agrees."""
    with stack.session() as s:
        e = factories.estate(s)
        for balance in ("3.00", "4.00", "80.00"):
            factories.wallet(s, balance, threshold="50.00", estate_obj=e)
    token = operator(stack)
    r = stack.api("POST", "/scans/check_critical_credit_wallets/run", token)
    assert r.status_code == 202, r.text
    run_id = r.json()["task_run"]["id"]
    final = wait_for(lambda: tap.of("task_run", id=run_id, state="succeeded"), timeout=20)[-1]
    states = [p["state"] for p in tap.of("task_run", id=run_id)]
    order = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert order == ["queued", "running", "succeeded"], states
    running = tap.of("task_run", id=run_id, state="running")
    assert running[0]["started_at"] and running[0]["finished_at"] is None
    assert final["result"]["notified"] >= 2 and final["result"]["scanned"] >= 3
    assert final["progress"]["done"] == final["progress"]["total"] > 0
    body = stack.api("GET", f"/task-runs/{run_id}", token).json()
    assert body["state"] == "succeeded" and body["result"] == final["result"]
    assert body["started_at"] <= body["finished_at"]
    critical = notifications_of(stack, task_run_id=run_id)
    assert len(critical) == final["result"]["notified"]
    # The critical scan also tells wallets at zero (credit_depleted): the seed has some.
    assert "critical_credit" in {n.type for n in critical}
    assert {n.type for n in critical} <= {"critical_credit", "credit_depleted"}
    assert all(n.data["balance"] == "0.00" for n in critical if n.type == "credit_depleted")


def test_second_run_now_while_one_is_active_is_409(stack, celery_client):
    """While a run of a scan is active (another worker's, say), Run now is 409 and a scheduled
    start of the same scan is skipped; once it ends, Run now starts a run that completes."""
    token = operator(stack)
    with stack.session() as s:
        busy = TaskRun(task="analyze_high_usage", trigger="schedule", state="running",
                       started_at=utcnow(), heartbeat_at=utcnow())
        s.add(busy)
        s.flush()
        busy_id = busy.id
    try:
        second = stack.api("POST", "/scans/analyze_high_usage/run", token)
        assert second.status_code == 409, second.text
        assert second.json()["error"]["code"] == "scan_running"
        scheduled = send(celery_client, "analyze_high_usage", trigger="schedule")
        assert "skipped" in scheduled.get(timeout=15)
    finally:
        with stack.session() as s:
            s.get(TaskRun, busy_id).state = "succeeded"
    started = stack.api("POST", "/scans/analyze_high_usage/run", token)
    assert started.status_code == 202, started.text
    run_id = started.json()["task_run"]["id"]

    def finished():
        body = stack.api("GET", f"/task-runs/{run_id}", token).json()
        return body if body["state"] in ("succeeded", "failed") else None

    assert wait_for(finished, timeout=20)["state"] == "succeeded"


def test_top_up_back_to_ok_resolves_alerts_across_processes(stack):
    """A top-up through the API resolves the alerts the worker made, and re-arms."""
    with stack.session() as s:
        wallet_id = factories.wallet(s, "60.00", threshold="50.00").id
    token = operator(stack)
    stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
              json={"utility": "electricity", "amount": "55.00"})  # R 5: critical
    wait_for(lambda: notifications_of(stack, wallet_id=wallet_id, type="critical_credit"),
             timeout=5)
    r = stack.api("POST", f"/wallets/{wallet_id}/topups", token,
                  json={"amount": "100.00", "method": "eft"})
    assert r.status_code == 201
    (critical,) = notifications_of(stack, wallet_id=wallet_id, type="critical_credit")
    assert critical.resolved_at is not None
    stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
              json={"utility": "water", "amount": "100.00"})  # R 5 again, minutes later
    again = wait_for(lambda: len(notifications_of(stack, wallet_id=wallet_id,
                                                  type="critical_credit")) == 2, timeout=5)
    assert again
    with stack.session() as s:
        assert s.get(Wallet, wallet_id).balance == Decimal("5.00")
