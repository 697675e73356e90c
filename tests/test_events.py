"""dashboard.events: who each event goes to, publishing only after commit, failing fast when
Redis is away, and the web's Redis subscription noticing an outage and recovering."""
from __future__ import annotations

import socket
import time
from datetime import date, timedelta

import pytest
import redis
import socketio

from dashboard import events
from dashboard.cli import redis_server
from dashboard.models import Occupancy, User, utcnow
from dashboard.services import notifications


class FakeSocketIO:
    """Stands in for Flask-SocketIO: records (event, payload, rooms)."""

    def __init__(self):
        """Nothing sent yet."""
        self.sent: list[tuple[str, dict, list[str]]] = []

    def emit(self, name, payload, to=None):
        """Record one emit."""
        self.sent.append((name, payload, to if isinstance(to, list) else [to]))

    def of(self, name):
        """(payload, rooms) of one event name."""
        return [(p, rooms) for n, p, rooms in self.sent if n == name]


@pytest.fixture
def fake(app, monkeypatch):
    """events publishes into a FakeSocketIO for one test."""
    recorder = FakeSocketIO()
    monkeypatch.setattr(events, "_socketio", recorder)
    return recorder


def store(db, wallet_id, kind="topup_success", key=None):
    """One stored (and delivered) notification for a wallet; its id."""
    row = notifications.notification_row(kind, "Title", "Message", now=utcnow(),
                                         dedup_key=key or f"k{time.monotonic_ns()}",
                                         wallet_id=wallet_id)
    ids = notifications.store(db, [row])
    db.commit()
    return ids[0]


# -- routing ---------------------------------------------------------------------------

def test_a_notification_goes_to_its_residents_and_operators_only(db, make, fake):
    mine, other = make.wallet("40.00"), make.wallet("40.00")
    alice = make.resident(mine, email="alice@example.test")
    bob = make.resident(mine, email="bob@example.test")
    make.resident(other, email="carol@example.test")
    moved_out = make.resident(mine, email="dave@example.test")
    db.query(Occupancy).filter_by(person_id=moved_out.person_id).update(
        {"end_date": date.today() - timedelta(days=1)})
    db.commit()
    nid = store(db, mine.id)

    assert events.publish_notifications(db, [nid]) == 1
    [(payload, rooms)] = fake.of("notification")
    assert payload["id"] == nid and payload["wallet_id"] == mine.id
    assert sorted(rooms) == sorted(["operators", f"user:{alice.id}", f"user:{bob.id}"])
    # Users with the same count share one message to all their rooms.
    counts = {room: p["count"] for p, rooms in fake.of("unread_count") for room in rooms}
    assert counts == {f"user:{alice.id}": 1, f"user:{bob.id}": 1}


def test_unread_count_is_recomputed_from_the_database(db, make, fake):
    w = make.wallet()
    res = make.resident(w, email="count@example.test")
    first, _second = store(db, w.id), store(db, w.id)
    notifications.mark_read(db, res, first, utcnow())
    db.commit()
    events.publish_unread_counts(db, [res.id])
    assert fake.of("unread_count") == [({"count": 1}, [f"user:{res.id}"])]


def test_wallet_event_goes_to_operators_and_that_wallets_residents(db, make, fake):
    w, other = make.wallet("9.00"), make.wallet()
    res = make.resident(w, email="w1@example.test")
    make.resident(other, email="w2@example.test")
    events.publish_wallet(db, w.id)
    [(payload, rooms)] = fake.of("wallet")
    assert payload == {"id": w.id, "balance": "9.00", "state": w.state}
    assert sorted(rooms) == ["operators", f"user:{res.id}"]


def test_task_runs_go_to_operators_only(db, make, fake):
    from dashboard.services.scans import runs as task_runs

    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    events.publish_task_run(run)
    [(payload, rooms)] = fake.of("task_run")
    assert rooms == ["operators"] and payload["id"] == run.id


# -- after commit --------------------------------------------------------------------------

def test_after_commit_runs_once_after_the_commit_and_may_query(db, make):
    from dashboard.db import write_transaction

    ran = []
    with write_transaction(db):
        db.add(User(email="ac@example.test", password_hash="x", role="operator"))
        events.after_commit(db, lambda: ran.append(db.query(User).filter_by(
            email="ac@example.test").count()))
        assert ran == []
    assert ran == [1]  # it ran, and it could read what was committed
    db.commit()
    assert ran == [1]  # once


def test_after_commit_is_dropped_on_rollback(db):
    ran = []
    db.add(User(email="rb@example.test", password_hash="x", role="operator"))
    events.after_commit(db, lambda: ran.append(True))
    db.rollback()
    db.commit()
    assert ran == []


def test_after_commit_waits_for_the_outer_transaction_not_a_savepoint(db):
    ran = []
    db.add(User(email="sp@example.test", password_hash="x", role="operator"))
    with db.begin_nested():
        events.after_commit(db, lambda: ran.append(True))
    assert ran == []  # the savepoint released; the outer transaction may still roll back
    db.commit()
    assert ran == [True]


# -- the queue manager -------------------------------------------------------------------

def dead_redis_url() -> str:
    """A localhost port with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_a_failed_publish_is_reported_and_fails_fast(monkeypatch):
    from flask_socketio import SocketIO

    monkeypatch.setattr(events, "_socketio", None)  # restored after the test
    io = SocketIO(message_queue=dead_redis_url(), channel="t")
    events.init(io)
    assert isinstance(io.server.manager, events.QueueManager)
    started = time.monotonic()
    assert events.emit("wallet", {"id": 1}, ["operators"]) is False
    # Inside the quiet period nothing is even tried: a scan's burst costs nothing more.
    for _ in range(100):
        assert events.emit("wallet", {"id": 1}, ["operators"]) is False
    assert time.monotonic() - started < 1.0


def test_publish_reaches_redis_and_says_so(redis_url, monkeypatch):
    from flask_socketio import SocketIO

    monkeypatch.setattr(events, "_socketio", None)  # restored after the test
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("t-ok")
    events.init(SocketIO(message_queue=redis_url, channel="t-ok"))
    assert events.emit("wallet", {"id": 7}, ["operators", "user:3"]) is True
    deadline, message = time.monotonic() + 5, None
    while message is None and time.monotonic() < deadline:
        message = listener.get_message(timeout=1)  # None for the subscribe confirmation
    assert b'"wallet"' in message["data"] and b'"user:3"' in message["data"]
    listener.close()


def wait_until(predicate, timeout=10.0):
    """Poll until predicate() is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_subscription_notices_an_outage_drops_browsers_and_recovers(tmp_path):
    port = redis_server.free_port()
    proc = redis_server.start(port, str(tmp_path))
    url = f"redis://127.0.0.1:{port}/0"
    manager = events.QueueManager(url, channel="t-outage")
    server = socketio.Server(client_manager=manager, async_mode="threading")
    dropped = []
    server.eio.disconnect = lambda sid=None: dropped.append(sid)
    try:
        manager.initialize()  # what the first connection does
        assert manager.wait_until_listening(5)
        received = []
        server.on("connect", lambda *a: None)
        manager._handle_emit = lambda message: received.append(message["event"])
        redis.Redis.from_url(url).publish("t-outage", manager.json.dumps(
            {"method": "emit", "event": "before", "data": [], "host_id": "other"}))
        wait_until(lambda: received == ["before"])

        proc.kill()
        proc.wait()
        wait_until(lambda: not manager.listening)
        assert dropped == [None]  # every browser of this process, at the transport level
        assert manager.wait_until_listening(0.1) is False  # no waiting during an outage

        proc = redis_server.start(port, str(tmp_path))
        started = time.monotonic()
        wait_until(lambda: manager.listening)
        assert time.monotonic() - started < 3.5  # retries are capped at 2 s
        redis.Redis.from_url(url).publish("t-outage", manager.json.dumps(
            {"method": "emit", "event": "after", "data": [], "host_id": "other"}))
        wait_until(lambda: received == ["before", "after"])
    finally:
        manager.close()  # or its thread would retry the dead port for the rest of the run
        proc.kill()
        proc.wait()
