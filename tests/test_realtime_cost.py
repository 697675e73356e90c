"""What one resident top-up costs the database, counted so that a regression fails: the
statements of the two requests (the payment started, the provider's webhook crediting it)
and of every task the web queued for it, run as the worker runs them (the very messages the
web put on the broker: name, arguments, headers). Bounds on statements, never a timing;
bench/RESULTS.md ("Round 3: the real-time path") has the CPU they stand for.

Before this round a top-up cost 13 statements in the web and 12 in the worker (two tasks:
the notice, then the wallet check); now 8 and 10 (one task). Transaction control (BEGIN)
is left out of the counts, as PostgreSQL sends none of its own.
"""
from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from dashboard import events
from dashboard.models import Notification
from tests import provider
from tests.conftest import private_broker_url

#: Upper bounds: this round's counts, which the code before it (13, 12) did not meet.
WEB_STATEMENTS = 8
WORKER_STATEMENTS = 10


@contextmanager
def statements():
    """Every statement any engine of this process sends meanwhile, transaction control left
    out (the worker's context opens its own engine)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        """Record one statement."""
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def queued_messages(redis_url) -> list[dict]:
    """The messages the web put on the private broker's queue, oldest first, taken off it:
    {name, args, kwargs, headers}."""
    broker = redis.Redis.from_url(private_broker_url(redis_url))
    raw = broker.lrange("notifications", 0, -1)
    broker.delete("notifications")
    out = []
    for message in map(json.loads, reversed(raw)):  # kombu LPUSHes: oldest last
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append({"name": message["headers"]["task"], "args": args, "kwargs": kwargs,
                    "headers": message["headers"]})
    return out


@pytest.fixture
def worker_here(app, monkeypatch):
    """The worker's task code runnable in this process: its context on the app's database
    and message queue, and the deliveries queue's hook as the worker registers it."""
    import worker.common
    import worker.context
    import worker.delivery_tasks
    import worker.tasks  # noqa: F401 - registers the real-time tasks
    from worker.celery_app import celery

    config = SimpleNamespace(**{k: app.config[k] for k in (
        "DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE", "SOCKETIO_CHANNEL")})
    monkeypatch.setattr(worker.common, "cfg", lambda: config)
    monkeypatch.setattr(worker.context, "_initialised_for", None)
    monkeypatch.setattr(events.deliveries, "_published_hooks", [])
    events.on_notifications_published(worker.delivery_tasks.kick)
    yield celery
    monkeypatch.setattr(events.emitter, "_socketio", None)


def test_a_residents_top_up_and_its_task_stay_within_their_statements(
        client, db, make, redis_url, worker_here):
    """The payment started, its webhook, then each queued task: within the bounds, and the
    work all done (credited, one topup_success, the wallet checked)."""
    wallet = make.wallet("100.00", threshold="50.00")
    make.resident(wallet, email="payer@example.test")
    token = client.post("/api/v1/auth/token", json={
        "email": "payer@example.test", "password": "correct-horse-battery"}).get_json()["token"]
    queued_messages(redis_url)  # an empty queue to start from
    db.remove()

    with statements() as web:
        started = client.post(f"/api/v1/wallets/{wallet.id}/topups",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"amount": "25.00", "method": "card"})
        assert started.status_code == 202, started.get_json()
        paid = provider.post(client, *provider.signed(started.get_json()["payment"]["id"],
                                                      "25.00"))
        assert paid.status_code == 200, paid.get_json()
    tx_id = paid.get_json()["payment"]["transaction_id"]

    tasks = queued_messages(redis_url)
    assert tasks and all(str(tx_id) in repr(t["kwargs"]) for t in tasks)
    with statements() as worker:
        for task in tasks:
            worker_here.tasks[task["name"]].apply(args=task["args"], kwargs=task["kwargs"],
                                                  headers=task["headers"])
    db.remove()
    notices = db.scalars(select(Notification.type).where(
        Notification.wallet_id == wallet.id)).all()
    assert notices == ["topup_success"]

    assert len(web) <= WEB_STATEMENTS, web
    assert len(worker) <= WORKER_STATEMENTS, worker
