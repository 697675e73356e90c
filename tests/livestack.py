"""A private stack for tests that break Redis on purpose: its own redis-server, database, web
and worker, so the shared session stack (tests/stack.py) never sees the outage.

Also the socket helpers the live-feed tests share: an event-recording Socket.IO client that
keeps wire order, a browser session cookie obtained through the real login form, and making
notifications through the same service and publisher the worker uses.
"""
from __future__ import annotations

import queue
import re
import threading
import time
import uuid
from pathlib import Path

import engineio
import requests
import socketio

from dashboard.cli import redis_server
from tests.stack import Stack


class LiveStack(Stack):
    """Web and worker on a Redis this stack owns, which tests may stop and start again."""

    def __init__(self, workdir: Path):
        """A fresh migrated SQLite database and a redis-server on a free port."""
        from dashboard.migrate import upgrade

        self.redis_port = redis_server.free_port()
        self.redis_dir = workdir / "redis"
        self.redis_dir.mkdir(exist_ok=True)
        self.redis_proc = redis_server.start(self.redis_port, str(self.redis_dir))
        db_url = f"sqlite:///{workdir / 'live.db'}"
        upgrade(db_url)
        super().__init__(db_url, f"redis://127.0.0.1:{self.redis_port}/0", workdir)

    def stop_redis(self) -> None:
        """Kill redis-server (as a crash would: no goodbye to the clients)."""
        if self.redis_proc and self.redis_proc.poll() is None:
            self.redis_proc.kill()
            self.redis_proc.wait(10)
        self.redis_proc = None

    def start_redis(self) -> None:
        """Start redis-server again on the same port (empty: it never persisted anything)."""
        if self.redis_proc is None:
            self.redis_proc = redis_server.start(self.redis_port, str(self.redis_dir))

    def close(self) -> None:
        """Stop everything this stack started."""
        self.stop()
        self.stop_redis()


# -- Socket.IO client that records events in the order they arrived -------------------------

class _OrderedEngineIO(engineio.Client):
    """engine.io client that hands messages to one dispatcher thread, in arrival order.

    python-socketio's threaded client runs every incoming message in a new thread, so two
    events sent in order may be recorded out of order; a test of "in order" needs wire order.
    (Running them in the read loop itself would keep order but stall closing the websocket.)
    """

    def __init__(self, *args, **kwargs):
        """Start the dispatcher."""
        super().__init__(*args, **kwargs)
        self._inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _dispatch(self):
        """Run message handlers one after another, for as long as the process lives."""
        while True:
            args = self._inbox.get()
            try:
                self.handlers["message"](*args)
            except Exception:
                self.logger.exception("message handler error")

    def disconnect(self, abort=False, reason=None):
        """Close without the 3 s stall: websocket-client's close() waits for the server's
        close frame, which the read-loop thread (blocked in recv) usually takes instead."""
        ws = getattr(self, "ws", None)
        if ws is not None and not getattr(ws, "_quick_close", False):
            close = ws.close
            ws.close = lambda *a, **k: close(timeout=0.2)
            ws._quick_close = True
        return super().disconnect(abort=abort, reason=reason)

    def _trigger_event(self, event, *args, **kwargs):
        """Queue messages; everything else as usual."""
        if event == "message" and kwargs.get("run_async"):
            self._inbox.put(args)
            return None
        return super()._trigger_event(event, *args, **kwargs)


class _OrderedClient(socketio.Client):
    """socketio.Client on the ordered engine.io client."""

    def _engineio_client_class(self):
        """Use the in-order engine.io client."""
        return _OrderedEngineIO


class Recorder:
    """A Socket.IO connection that records every event it receives, in wire order."""

    def __init__(self, url: str, *, cookie: str | None = None, token: str | None = None,
                 headers: dict | None = None, auth=None):
        """Describe the connection; `connect()` makes it."""
        self.url = url
        self.headers = dict(headers or {})
        if cookie:
            self.headers["Cookie"] = cookie
        self.auth = {"token": token} if token else auth
        self.events: list[tuple[str, object]] = []
        self.disconnects: list[str] = []
        self.refusals: list = []  # connect_error data: {"message": ..., "data": ...}
        self._cond = threading.Condition()
        self.sio = _OrderedClient(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._disconnected)
        self.sio.on("connect_error", self._refused)

    def _record(self, event, data=None):
        """Catch-all handler."""
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def _disconnected(self, reason=None):
        """Remember why the server or transport ended the connection."""
        with self._cond:
            self.disconnects.append(str(reason))
            self._cond.notify_all()

    def _refused(self, data=None):
        """Remember what the server said when it refused the connection."""
        with self._cond:
            self.refusals.append(data)
            self._cond.notify_all()

    def connect(self) -> Recorder:
        """Connect over websocket; raises socketio.exceptions.ConnectionError when refused."""
        self.sio.connect(self.url, headers=self.headers, auth=self.auth,
                         transports=["websocket"], wait_timeout=10)
        return self

    def close(self) -> None:
        """Disconnect (idempotent)."""
        if self.sio.connected:
            self.sio.disconnect()

    def of(self, name: str) -> list:
        """Payloads of one event name, in arrival order."""
        with self._cond:
            return [data for event, data in self.events if event == name]

    def ids(self) -> list[int]:
        """Ids of the `notification` events received, in arrival order."""
        return [n["id"] for n in self.of("notification")]

    def wait(self, predicate, timeout: float = 10.0):
        """Until predicate(self) is truthy; returns its value or fails with what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [event for event, _ in self.events]
                    raise AssertionError(f"timed out; received {len(names)} events: "
                                         f"{names[-20:]}, disconnects {self.disconnects}")
                self._cond.wait(min(left, 0.2))

    def sync(self, after_id: int, timeout: float = 15.0) -> dict:
        """`sync` and wait for its acknowledgement (sent after every replayed event)."""
        return self.sio.call("sync", {"after_id": after_id}, timeout=timeout)


# -- accounts and notifications -----------------------------------------------------------

def unique_email(prefix: str) -> str:
    """An email no other test in the shared database uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


def login_cookie(base_url: str, email: str, password: str = "correct-horse-battery") -> str:
    """The Cookie header of a browser session signed in through the real form."""
    http = requests.Session()
    page = http.get(base_url + "/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page) or \
        re.search(r'name="csrf-token" content="([^"]+)"', page)
    response = http.post(base_url + "/login", timeout=10, allow_redirects=False,
                         data={"email": email, "password": password, "csrf_token": csrf.group(1)})
    assert response.status_code == 302, response.text[:500]
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def init_publisher(stack) -> None:
    """Make dashboard.events publish onto this stack's channel, as the worker does."""
    from flask_socketio import SocketIO

    from dashboard import events

    events.init(SocketIO(message_queue=stack.redis_url, channel=stack.channel))


def notify(stack, wallet_id: int, count: int = 1, *, kind: str = "topup_success",
           title: str = "Test notice", publish: bool = True) -> list[int]:
    """Store `count` notifications for a wallet's residents through the notification
    service, commit, then publish them (like a worker task). Returns their ids."""
    from dashboard import events
    from dashboard.models import utcnow
    from dashboard.services import notifications

    tag = uuid.uuid4().hex[:10]
    now = utcnow()
    rows = [notifications.notification_row(kind, f"{title} {i + 1}", f"Message {i + 1}.",
                                           dedup_key=f"test:{tag}:{i}", now=now,
                                           wallet_id=wallet_id, data={"n": i + 1})
            for i in range(count)]
    with stack.session() as s:
        ids = notifications.store(s, rows)
        s.commit()
        if publish:
            events.publish_notifications(s, ids)
    return ids
