"""Who is connected (dashboard/events/presence.py) on a real Redis, and what a scan chunk
publishes with it (dashboard/events/scans.py): individual notifications only to connected
residents, their unread counts, and one `notifications_batch` to operators."""
from __future__ import annotations

import time
import uuid

import pytest
import redis
from flask_socketio import SocketIO

from dashboard import events
from dashboard.events import fanout, presence
from dashboard.models import utcnow
from dashboard.services import notifications
from dashboard.services.scans import runs as task_runs
from dashboard.services.serialize import notification_json
from tests.test_events_batch import Subscriber


@pytest.fixture
def channel():
    """A channel of its own, so other tests' presence keys are not ours."""
    return f"t-presence-{uuid.uuid4().hex[:8]}"


def web_process(redis_url: str, channel: str, host: str) -> presence.Presence:
    """The presence record of one (pretend) web process."""
    client = redis.Redis.from_url(redis_url)
    return presence.Presence(lambda: client, channel, host)


def connected(redis_url: str, channel: str) -> set[int]:
    """What a publisher reads."""
    return presence.connected_users(redis.Redis.from_url(redis_url), channel)


# -- presence --------------------------------------------------------------------------------

def test_a_user_is_connected_while_any_socket_of_theirs_is_open_anywhere(redis_url, channel):
    web_a, web_b = (web_process(redis_url, channel, h) for h in ("a", "b"))
    assert connected(redis_url, channel) == set()
    web_a.joined("s1", 1)
    web_a.joined("s2", 1)  # a second tab
    web_b.joined("s3", 2)
    assert connected(redis_url, channel) == {1, 2}
    web_a.left("s1")
    assert connected(redis_url, channel) == {1, 2}  # the other tab is still open
    web_a.left("s2")
    assert connected(redis_url, channel) == {2}
    web_b.joined("s4", 1)
    web_b.left("s3")
    web_b.left("s3")  # a disconnect seen twice changes nothing
    assert connected(redis_url, channel) == {1}
    assert connected(redis_url, f"{channel}-other") == set()  # deployments stay apart


def test_a_dead_web_process_users_disappear_within_the_expiry(redis_url, channel, monkeypatch):
    monkeypatch.setattr(presence, "TTL", 1)
    dying, living = (web_process(redis_url, channel, h) for h in ("dying", "living"))
    dying.joined("s1", 1)
    living.joined("s2", 2)
    assert connected(redis_url, channel) == {1, 2}
    deadline = time.monotonic() + 3
    while 1 in connected(redis_url, channel):  # only `living` keeps beating
        assert time.monotonic() < deadline, "the dead process's user never went away"
        living.beat()
        time.sleep(0.2)
    assert connected(redis_url, channel) == {2}
    living.beat()
    index = redis.Redis.from_url(redis_url).zrange(presence.index_key(channel), 0, -1)
    assert index == [presence.host_key(channel, "living").encode()]  # the dead key forgotten


def test_a_heartbeat_writes_the_set_again_after_redis_lost_it(redis_url, channel):
    web = web_process(redis_url, channel, "a")
    web.joined("s1", 1)
    web.joined("s2", 2)
    web.left("s2")
    client = redis.Redis.from_url(redis_url)
    client.delete(presence.host_key(channel, "a"), presence.index_key(channel))  # a restart
    assert connected(redis_url, channel) == set()
    assert web.beat() is True
    assert connected(redis_url, channel) == {1} == web.users()
    assert 0 < client.ttl(presence.host_key(channel, "a")) <= presence.TTL


def test_a_redis_failure_is_logged_not_raised_nor_waited_for_by_every_socket(channel):
    attempts = []

    def client():
        """A Redis nobody answers on, counting how often it is asked."""
        attempts.append(1)
        return redis.Redis(port=9, socket_connect_timeout=0.2)

    web = presence.Presence(client, channel, "a")
    web.joined("s0", 100)  # the connect handler goes on; the heartbeat repairs it later
    for i in range(1, 100):
        web.joined(f"s{i}", i)
    for i in range(1, 100):  # every socket closing at once as Redis went away
        web.left(f"s{i}")
    assert len(attempts) == 1  # the first failure, then quiet: nobody waits a timeout
    assert web.users() == {100}
    assert web.beat() is False and len(attempts) == 2  # the heartbeat always tries
    manager = events.QueueManager("redis://127.0.0.1:9/0", channel=channel)
    assert manager.connected_users() is None  # unknown: the publisher then sends to all


# -- a scan chunk's events ---------------------------------------------------------------------

@pytest.fixture
def publisher(app, redis_url, channel, monkeypatch):
    """dashboard.events publishing on `channel` through a QueueManager, and a raw subscriber:
    (subscriber, web process presence)."""
    monkeypatch.setattr(events.emitter, "_socketio", None)  # restored after the test
    events.init(SocketIO(message_queue=redis_url, channel=channel))
    subscriber = Subscriber(redis_url, channel)
    yield subscriber, web_process(redis_url, channel, "web-1")
    subscriber.close()


def store(db, wallet_id: int, count: int, run_id: int | None, kind="low_credit") -> list[int]:
    """`count` committed scan notifications of run `run_id` for a wallet; their ids."""
    tag = uuid.uuid4().hex[:8]
    rows = [notifications.notification_row(kind, f"T{i}", "M.", dedup_key=f"p:{tag}:{i}",
                                           now=utcnow(), wallet_id=wallet_id,
                                           task_run_id=run_id, data={"task_run_id": run_id})
            for i in range(count)]
    ids = notifications.store(db, rows)
    db.commit()
    return ids


def published(subscriber) -> list[tuple[str, object, list[str]]]:
    """(event, payload, rooms) of everything published, batches unpacked."""
    import json

    out = []
    for raw in subscriber.take():
        message = json.loads(raw)
        if message["method"] == fanout.METHOD:
            for rooms, text in message["items"]:
                assert text.startswith("2[")
                event, payload = json.loads(text[1:])
                out.append((event, payload, rooms))
        else:
            room = message["room"]
            out.append((message["event"], message["data"][0],
                        room if isinstance(room, list) else [room]))
    return out


def test_a_chunk_goes_to_connected_residents_and_operators_get_one_summary(db, make, publisher):
    subscriber, web = publisher
    home, away = make.wallet("5.00"), make.wallet("5.00")
    online = make.resident(home, email="online@example.test")
    offline = make.resident(home, email="offline@example.test")
    elsewhere = make.resident(away, email="elsewhere@example.test")
    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    ids = store(db, home.id, 3, run.id) + store(db, away.id, 2, run.id, "critical_credit")
    web.joined("sid-online", online.id)

    assert events.publish_scan_notifications(db, ids, task_run_id=run.id) == 3
    got = published(subscriber)
    notes = [(p, rooms) for e, p, rooms in got if e == "notification"]
    expected = [notification_json(row) for row in events.notification_rows(db, ids[:3])]
    assert notes == [(n, [events.user_room(online.id)]) for n in expected]  # theirs only
    assert [(p, rooms) for e, p, rooms in got if e == "unread_count"] == [
        ({"count": 3}, [events.user_room(online.id)])]
    # The count right after the resident's last notification of the chunk, in one batch: the
    # web queues both on the socket together.
    mine = [e for e, _, rooms in got if rooms == [events.user_room(online.id)]]
    assert mine == ["notification"] * 3 + ["unread_count"]
    assert [(p, rooms) for e, p, rooms in got if e == "notifications_batch"] == [
        ({"task_run_id": run.id, "count": 5, "by_type": {"critical_credit": 2, "low_credit": 3},
          "last_id": ids[-1]}, ["operators"])]
    everyone = {room for _, _, rooms in got for room in rooms}
    assert everyone == {events.user_room(online.id), "operators"}
    assert not {events.user_room(offline.id), events.user_room(elsewhere.id)} & everyone


def test_nobody_connected_publishes_only_the_summary(db, make, publisher):
    subscriber, _ = publisher
    w = make.wallet("5.00")
    make.resident(w, email="asleep@example.test")
    ids = store(db, w.id, 4, None)
    assert events.publish_scan_notifications(db, ids, task_run_id=None) == 0
    assert published(subscriber) == [("notifications_batch", {
        "task_run_id": None, "count": 4, "by_type": {"low_credit": 4}, "last_id": ids[-1]},
        ["operators"])]


def test_the_summary_counts_only_the_chunk_when_other_rows_interleave(db, make, publisher):
    subscriber, _ = publisher
    w = make.wallet("5.00")
    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    first = store(db, w.id, 2, run.id)
    other_chunk = store(db, w.id, 3, run.id, "critical_credit")  # another worker's ids
    last = store(db, w.id, 1, run.id)
    events.publish_scan_notifications(db, first + last, task_run_id=run.id)
    [(_, summary, _)] = [g for g in published(subscriber) if g[0] == "notifications_batch"]
    assert summary == {"task_run_id": run.id, "count": 3, "by_type": {"low_credit": 3},
                       "last_id": last[-1]}
    assert other_chunk[0] < last[-1]


def test_with_presence_unknown_every_recipient_is_sent_theirs(db, make, publisher, monkeypatch):
    subscriber, _ = publisher
    w = make.wallet("5.00")
    resident = make.resident(w, email="unknown@example.test")
    ids = store(db, w.id, 2, None)
    monkeypatch.setattr(events.emitter._socketio.server.manager, "connected_users",
                        lambda: None)  # as when Redis cannot say
    assert events.publish_scan_notifications(db, ids, task_run_id=None) == 2
    rooms = [rooms for e, _, rooms in published(subscriber) if e == "notification"]
    assert rooms == [[events.user_room(resident.id)]] * 2
