"""Publishing many events in pipelined Redis calls (QueueManager.emit_many and the batched
publish_notifications): the same queue messages, byte for byte, as one emit each; every event
once and in order; an honest count and no exception when Redis goes away mid-batch."""
from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
import redis
from flask_socketio import SocketIO
from sqlalchemy import event, func, select, update

from dashboard import events
from dashboard.cli import redis_server
from dashboard.models import Notification, NotificationDelivery, Transaction, utcnow
from dashboard.services import notifications
from dashboard.services.serialize import notification_json


class Subscriber:
    """A raw Redis subscriber on one channel: the queue messages exactly as published."""

    def __init__(self, url: str, channel: str):
        """Subscribe now (messages published before this are not seen)."""
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=1)  # the subscribe confirmation

    def take(self, quiet: float = 0.5) -> list[bytes]:
        """Every message until none arrives for `quiet` seconds."""
        got = []
        while (message := self.pubsub.get_message(timeout=quiet)) is not None:
            got.append(message["data"])
        return got

    def close(self) -> None:
        """Unsubscribe."""
        self.pubsub.close()


@pytest.fixture
def publisher(app, redis_url, monkeypatch):
    """dashboard.events publishing through a QueueManager on a fresh channel, and a raw
    subscriber on it: (manager, subscriber)."""
    monkeypatch.setattr(events.emitter, "_socketio", None)  # restored after the test
    channel = f"t-batch-{uuid.uuid4().hex[:8]}"
    io = SocketIO(message_queue=redis_url, channel=channel)
    events.init(io)
    assert isinstance(io.server.manager, events.QueueManager)
    subscriber = Subscriber(redis_url, channel)
    yield io.server.manager, subscriber
    subscriber.close()


def store_many(db, wallet_id: int, count: int, **extra) -> list[int]:
    """`count` stored, delivered and committed notifications for a wallet; their ids."""
    tag = uuid.uuid4().hex[:8]
    now = utcnow()
    rows = [notifications.notification_row("topup_success", f"Title {i}", f"Message {i}.",
                                           dedup_key=f"batch:{tag}:{i}", now=now,
                                           wallet_id=wallet_id, **extra)
            for i in range(count)]
    ids = notifications.store(db, rows)
    db.commit()
    return ids


def per_event_publish(session, ids) -> int:
    """publish_notifications as it was before batching: ORM objects, one emit per event
    (through Flask-SocketIO and the stock PubSubManager.emit). The reference for the bytes."""
    ids = sorted(set(ids))
    sent, touched = 0, set()
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        rows = session.scalars(select(Notification).where(Notification.id.in_(batch))
                               .order_by(Notification.id)).all()
        recipients = notifications.recipient_ids(session, batch)
        for n in rows:
            users = recipients.get(n.id, [])
            touched.update(users)
            if events.emit("notification", notification_json(n),
                           [events.OPERATORS, *(events.user_room(u) for u in users)]):
                sent += 1
    counts: dict[int, int] = defaultdict(int)
    counts.update(dict(session.execute(
        select(NotificationDelivery.user_id, func.count())
        .where(NotificationDelivery.user_id.in_(touched),
               NotificationDelivery.channel == notifications.IN_APP,
               NotificationDelivery.read_at.is_(None))
        .group_by(NotificationDelivery.user_id)).all()))
    for uid in touched:
        events.emit("unread_count", {"count": counts[uid]}, [events.user_room(uid)])
    return sent


# -- the same JSON from rows as from ORM objects --------------------------------------------

def test_a_row_serializes_exactly_like_the_orm_object(db, make):
    w = make.wallet("5.00")
    make.resident(w, email="row@example.test")
    meter = make.meter(w)
    make.purchase_history(w, ["10.00"])
    tx_id = db.scalar(select(Transaction.id).where(Transaction.wallet_id == w.id))
    from dashboard.services.scans import runs as task_runs

    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    ids = [*store_many(db, w.id, 1),  # data {} and every reference None
           *store_many(db, w.id, 1, meter_id=meter.id, transaction_id=tx_id,
                       task_run_id=run.id, data={"balance": "5.00", "nested": {"a": [1, 2]}})]
    db.execute(update(Notification).where(Notification.id == ids[1])
               .values(resolved_at=utcnow() + timedelta(minutes=5)))
    db.commit()

    rows = events.notification_rows(db, ids)
    orm = db.scalars(select(Notification).where(Notification.id.in_(ids))
                     .order_by(Notification.id)).all()
    assert [r.id for r in rows] == ids
    for row, obj in zip(rows, orm, strict=True):
        assert notification_json(row) == notification_json(obj)
    assert notification_json(rows[1])["resolved_at"] is not None
    assert notification_json(rows[1])["data"]["nested"] == {"a": [1, 2]}


# -- the same queue messages, once each, in order -----------------------------------------

def rooms_of(message: dict) -> list[str]:
    """A queue message's rooms as a list (one room is sent as a plain string)."""
    room = message["room"]
    return room if isinstance(room, list) else [room]


def test_batched_messages_are_byte_for_byte_those_of_one_emit_each(db, make, publisher):
    manager, subscriber = publisher
    mine, other = make.wallet("40.00"), make.wallet("40.00")
    make.resident(mine, email="b1@example.test")
    make.resident(mine, email="b2@example.test")
    make.resident(other, email="b3@example.test")
    # 2,300 notifications: three read batches, three pipelines, residents on both wallets.
    ids = sorted(store_many(db, mine.id, 1500) + store_many(db, other.id, 800))

    assert per_event_publish(db, ids) == len(ids)
    before = subscriber.take()
    assert events.publish_notifications(db, ids) == len(ids)
    after = subscriber.take()

    n = len(ids)
    assert after[:n] == before[:n]  # same bytes, same order: the web's listener cannot tell
    assert [manager.json.loads(m)["data"][0]["id"] for m in after[:n]] == ids  # once, in order
    # Then the unread counts: every user's room exactly once with the same count as before,
    # users with equal counts (b1 and b2) sharing one message.
    expected = {rooms_of(m)[0]: m["data"] for m in map(manager.json.loads, before[n:])}
    got: dict[str, list] = {}
    for raw in after[n:]:
        message = manager.json.loads(raw)
        assert message["event"] == "unread_count"
        for room in rooms_of(message):
            assert room not in got
            got[room] = message["data"]
        # ... each the very message one stock emit to those rooms queues.
        assert events.emit("unread_count", message["data"][0], rooms_of(message))
        assert subscriber.take() == [raw]
    assert got == expected and len(got) == 3
    assert len(after) == n + 2  # {count: 1500} to two rooms, {count: 800} to one


def test_unread_counts_share_a_message_per_count_up_to_a_limit(db, make, publisher, monkeypatch):
    manager, subscriber = publisher
    w, other = make.wallet(), make.wallet()
    users = [make.resident(w, email=f"uc{i}@example.test").id for i in range(3)]
    lone = make.resident(other, email="uc-lone@example.test").id
    store_many(db, w.id, 3)
    store_many(db, other.id, 1)
    monkeypatch.setattr(events.publish, "UNREAD_ROOMS", 2)
    events.publish_unread_counts(db, [*users, lone])
    messages = [manager.json.loads(m) for m in subscriber.take()]
    assert [(m["data"], rooms_of(m)) for m in messages] == [
        ([{"count": 3}], [events.user_room(u) for u in users[:2]]),
        ([{"count": 3}], [events.user_room(users[2])]),
        ([{"count": 1}], [events.user_room(lone)])]


# -- Redis going away ---------------------------------------------------------------------

@pytest.fixture
def private_redis(tmp_path):
    """A redis-server this test may kill: (url, kill)."""
    port = redis_server.free_port()
    proc = redis_server.start(port, str(tmp_path))

    def kill():
        """Crash it (no goodbye to the clients)."""
        proc.kill()
        proc.wait(10)

    yield f"redis://127.0.0.1:{port}/0", kill
    kill()


def test_an_outage_mid_batch_counts_what_reached_redis_and_fails_fast(private_redis):
    url, kill = private_redis
    manager = events.QueueManager(url, channel="t-batch-outage", write_only=True)
    subscriber = Subscriber(url, "t-batch-outage")
    assert manager.emit_many([("warm", {"n": 0}, "operators")]) == 1  # a pooled connection
    assert len(subscriber.take(0.2)) == 1

    received: list[bytes] = []

    def items():
        """2,500 events; Redis dies once the first pipeline of 1,000 has been sent."""
        for i in range(2500):
            if i == manager.PIPELINE_SIZE:
                received.extend(subscriber.take(0.2))
                kill()
            yield "notification", {"id": i}, ["operators", f"user:{i}"]

    started = time.monotonic()
    assert manager.emit_many(items()) == 1000
    assert time.monotonic() - started < 2.0  # one failed pipeline, then the quiet period
    assert [manager.json.loads(m)["data"][0]["id"] for m in received] == list(range(1000))
    # Inside the quiet period nothing is tried at all.
    assert manager.emit_many([("wallet", {"id": 1}, "operators")] * 5000) == 0
    assert time.monotonic() - started < 2.0


def test_publish_notifications_survives_redis_dying_between_batches(
        db, make, private_redis, monkeypatch):
    url, kill = private_redis
    monkeypatch.setattr(events.emitter, "_socketio", None)  # restored after the test
    events.init(SocketIO(message_queue=url, channel="t-batch-dies"))
    subscriber = Subscriber(url, "t-batch-dies")
    w = make.wallet()
    make.resident(w, email="dies@example.test")
    ids = store_many(db, w.id, 2500)

    reads = []
    engine = db.get_bind()

    @event.listens_for(engine, "before_cursor_execute")
    def _kill_on_second_read(conn, cursor, statement, params, context, executemany):
        """Redis dies as the second batch of 1,000 notifications is read."""
        if statement.lstrip().startswith("SELECT notifications.id, notifications.type"):
            reads.append(statement)
            if len(reads) == 2:
                received.extend(subscriber.take(0.2))
                kill()

    received: list[bytes] = []
    try:
        started = time.monotonic()
        assert events.publish_notifications(db, ids) == 1000  # the first batch only
        assert time.monotonic() - started < 5.0
    finally:
        event.remove(engine, "before_cursor_execute", _kill_on_second_read)
    assert len(reads) == 3  # it went on reading (and skipped publishing) after the outage
    assert [events.emitter._socketio.server.manager.json.loads(m)["data"][0]["id"]
            for m in received] == ids[:1000]


def test_a_payload_with_bytes_is_queued_as_the_stock_emit_queues_it(publisher):
    manager, subscriber = publisher
    payload = {"blob": b"\x00\x01raw", "nested": [{"more": bytearray(b"x")}], "n": 1}
    assert events.emit("blob", payload, ["operators", "user:1"]) is True
    stock = subscriber.take()
    assert manager.emit_many([("blob", payload, ["operators", "user:1"])]) == 1
    assert subscriber.take() == stock
    assert manager.json.loads(stock[0])["binary"] is True


# -- through the web, to real Socket.IO clients ----------------------------------------------

@pytest.mark.stack
def test_socket_clients_get_every_notification_of_a_large_batch_once_in_order(stack):
    from tests import factories
    from tests.livestack import Recorder, init_publisher, notify, unique_email

    init_publisher(stack)  # dashboard.events here publishes onto the stack's channel
    email, operator_email = unique_email("batch"), unique_email("batch-op")
    with stack.session() as s:
        wallet = factories.wallet(s)
        factories.resident(s, wallet, email=email)
        factories.user(s, "operator", email=operator_email)
        wallet_id = wallet.id
    clients = [Recorder(stack.url, token=stack.token(e)) for e in (email, operator_email)]
    try:
        for client in clients:
            client.connect().wait(lambda c: c.of("unread_count"))
        ids = notify(stack, wallet_id, 2500, title="Batch")  # three pipelines of notifications
        with stack.session() as s:
            expected = [notification_json(n) for n in s.scalars(
                select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id))]
        resident, operator = clients
        resident.wait(lambda c: len(c.ids()) >= 2500 and c.of("unread_count")[-1]
                      == {"count": 2500}, timeout=60)
        operator.wait(lambda c: set(ids) <= set(c.ids()), timeout=60)
        time.sleep(0.3)  # a duplicate would have arrived with the rest
        assert resident.of("notification") == expected  # once each, in id order, same JSON
        assert [n for n in operator.of("notification") if n["id"] in set(ids)] == expected
    finally:
        for client in clients:
            client.close()
