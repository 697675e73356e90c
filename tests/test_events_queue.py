"""dashboard.events.queue: failing fast when Redis is away, saying whether a publish arrived,
and the web's Redis subscription noticing an outage, dropping its browsers and recovering."""
from __future__ import annotations

import socket
import time

import redis
import socketio

from dashboard import events
from dashboard.cli import redis_server


def dead_redis_url() -> str:
    """A localhost port with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_a_failed_publish_is_reported_and_fails_fast(monkeypatch):
    from flask_socketio import SocketIO

    monkeypatch.setattr(events.emitter, "_socketio", None)  # restored after the test
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
    monkeypatch.setattr(events.emitter, "_socketio", None)  # restored after the test
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("t-ok")
    # As the worker and the CLI publish: an emit-only Socket.IO made by the events package.
    io = events.init_queue(redis_url, "t-ok")
    assert isinstance(io.server.manager, events.QueueManager) and io.server.manager.write_only
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
