"""The one publisher of live events, used by the web app and the worker alike.

Events go through the Redis message queue, so whichever process emits, every web process
delivers them to its connected browsers. Rooms: `user:<id>` for each signed-in user and
`operators` for operators and viewers. Payloads carry data, never HTML.

Events (DESIGN.md, Socket.IO): `notification` (to its recipients and operators),
`unread_count` {count} (to every tab of one user), `task_run` (operators) and `wallet`
{id, balance, state} (operators and the wallet's residents).

Publishing happens after the database commit. Callers either call a `publish_*` function
right after their own commit, or defer it with `after_commit(session, fn)`, which runs `fn`
once the session's outermost transaction has committed (and drops it on rollback), so a
browser is never told about something a rollback took back.

A publish can fail (Redis restarting, a network blip). It never fails the request or task
that made the data: the rows are committed and browsers catch up through `sync` (on every
reconnect, every 30 s and when a tab becomes visible; see static/js/live.js).

`QueueManager` is the python-socketio Redis client manager with three changes, all so the
live feed can be honest about what it delivers:

* Publishing fails fast and says so. The stock manager logs and swallows a failed publish
  and, against an unreachable host, can block a request for the OS connect timeout; ours
  uses short timeouts, stops trying for a moment after a failure (a scan publishing 10,000
  notifications during an outage must not pay 10,000 timeouts) and reports the outcome.
* The web's subscription reports its health. The stock listener retries with a backoff of up
  to 60 s, and redis-py quietly reconnects and re-subscribes a dropped pub/sub connection:
  either way messages published during the gap are lost while every browser's websocket to
  the web stays up and shows "Live". Ours never reconnects silently, retries every 0.5-2 s,
  and when its subscription is lost it closes this process's browser connections at the
  transport level. socket.io-client then reconnects by itself (the page shows
  "Reconnecting…"); `dashboard.sockets` refuses those reconnects, with a "retry" hint, until
  the subscription is back; the first connect after that syncs, so nothing is missed.
* It exists in the worker too: `init` swaps it in for the stock manager of the worker's
  emit-only SocketIO, so both sides publish the same way.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import redis
import socketio as socketio_pkg
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import scoped_session

from .models import Notification, NotificationDelivery, TaskRun, Wallet, utcnow
from .services import notifications as notif_service
from .services.serialize import notification_json, task_run_json, wallet_event

log = logging.getLogger(__name__)

OPERATORS = "operators"
_socketio = None


def _keepalive_options() -> dict:
    """TCP keepalive probes after 30 s idle, so a half-open subscription dies in ~1 minute
    instead of the kernel's default two hours (Linux names; other systems keep defaults)."""
    names = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
    return {getattr(socket, n): v for n, v in names.items() if hasattr(socket, n)}


class QueueManager(socketio_pkg.RedisManager):
    """python-socketio's Redis manager that fails fast and knows whether it is listening."""

    RETRY_FIRST = 0.5  # seconds before the first re-subscribe attempt
    # Cheap (one TCP connect), and bounds how long browsers wait once Redis is back.
    RETRY_MAX = 2.0
    # After a failed publish, drop publishes this long instead of paying a timeout for each.
    QUIET_SECONDS = 2.0
    CONNECT_TIMEOUT = 2.0

    def __init__(self, url: str, channel: str = "socketio", write_only: bool = False):
        """Same arguments as RedisManager; nothing connects until used."""
        super().__init__(url, channel=channel, write_only=write_only)
        self._publisher: redis.Redis | None = None
        self._publisher_lock = threading.Lock()
        self._quiet_until = 0.0
        self._outcome = threading.local()
        self.listening = False
        self._first_listen = threading.Event()
        self._closed = False

    @classmethod
    def like(cls, manager: socketio_pkg.RedisManager) -> QueueManager:
        """A QueueManager on the same Redis URL and channel as a stock RedisManager."""
        return cls(manager.redis_url, channel=manager.channel, write_only=manager.write_only)

    # -- publishing ----------------------------------------------------------------------

    def _client(self) -> redis.Redis:
        """The publishing connection pool: short timeouts, one immediate retry (a pooled
        connection that died with a Redis restart fails once, then a fresh one is used)."""
        with self._publisher_lock:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(
                    self.redis_url, socket_connect_timeout=self.CONNECT_TIMEOUT,
                    socket_timeout=5, retry=Retry(NoBackoff(), 1))
            return self._publisher

    def _publish(self, data) -> bool:
        """Publish one queue message; False (and a short quiet period) when Redis fails."""
        ok = False
        now = time.monotonic()
        if now >= self._quiet_until:
            try:
                self._client().publish(self.channel, self.json.dumps(data))
                ok = True
            except (redis.RedisError, OSError) as exc:
                self._quiet_until = now + self.QUIET_SECONDS
                log.warning("live events: publish to Redis failed (%s); browsers will catch "
                            "up through sync", exc)
        self._outcome.ok = ok
        return ok

    def take_outcome(self) -> bool:
        """Whether this thread's last publish reached Redis (True when none was attempted)."""
        ok = getattr(self._outcome, "ok", True)
        self._outcome.ok = True
        return ok

    # -- listening (web processes) ---------------------------------------------------------

    def wait_until_listening(self, timeout: float) -> bool:
        """True once subscribed; waits up to `timeout` only for the very first subscription
        (the listener starts with the first connection), never during an outage."""
        if not self.listening and not self._first_listen.is_set():
            self._first_listen.wait(timeout)
        return self.listening

    def _set_listening(self, value: bool) -> None:
        """Record the subscription state; on losing it, drop this process's browsers."""
        was, self.listening = self.listening, value
        if value:
            self._first_listen.set()
            if not was:
                log.info("live events: subscribed to %s", self.channel)
        elif was:
            log.warning("live events: lost the Redis subscription; closing browser "
                        "connections so they reconnect and sync when it is back")
            # Transport-level close (no Socket.IO DISCONNECT packet): clients see "transport
            # close" and reconnect by themselves, unlike after a server-side disconnect.
            try:
                self.server.eio.disconnect()
            except Exception:  # a closing socket must not kill the listener thread
                log.exception("could not close browser connections")

    def close(self) -> None:
        """Stop re-subscribing once the current subscription ends (for tests: a web process
        listens for as long as it lives)."""
        self._closed = True

    def _listen(self):
        """The messages of our channel (RedisManager's, minus its unsubscribe at the end,
        which would fail on our own pub/sub object once closed)."""
        channel = self.channel.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if message["channel"] == channel and message["type"] == "message" \
                    and "data" in message:
                yield message["data"]

    def _redis_listen_with_retries(self):
        """Yield queue messages until closed, re-subscribing on any failure (module doc)."""
        delay = self.RETRY_FIRST
        failures = 0
        while not self._closed:
            pubsub = None
            try:
                client = redis.Redis.from_url(
                    self.redis_url, socket_connect_timeout=self.CONNECT_TIMEOUT,
                    socket_keepalive=True, socket_keepalive_options=_keepalive_options(),
                    retry=Retry(NoBackoff(), 0))  # no silent reconnect: a gap must be seen
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._set_listening(True)
                delay, failures = self.RETRY_FIRST, 0
                yield from pubsub.listen()
            except Exception as exc:  # noqa: BLE001 - whatever broke, listen again
                failures += 1
                if failures == 1 or failures % 30 == 0:  # not a line every 2 s of an outage
                    log.warning("live events: Redis subscription failed (%d): %s", failures, exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()
            self._set_listening(False)
            self.server.sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX)


def install_queue_manager(socketio) -> None:
    """Put a QueueManager in place of a Flask-SocketIO instance's stock Redis manager.

    Must run before the server handles its first connection (the manager starts listening
    then); create_app calls it through sockets.register, the worker through `init`.
    """
    server = getattr(socketio, "server", None)
    manager = getattr(server, "manager", None)
    if not isinstance(manager, socketio_pkg.RedisManager) or isinstance(manager, QueueManager):
        return
    if getattr(server, "manager_initialized", False):
        log.warning("live events: the Socket.IO manager is already running; not replaced")
        return
    queue = QueueManager.like(manager)
    queue.set_server(server)
    server.manager = queue


def init(socketio) -> None:
    """Use this Flask-SocketIO instance (the web app's, or the worker's emit-only one)."""
    global _socketio
    install_queue_manager(socketio)
    _socketio = socketio


def user_room(user_id: int) -> str:
    """The room every connection of one user joins."""
    return f"user:{user_id}"


def emit(name: str, payload: dict, rooms: list[str]) -> bool:
    """Emit one event to some rooms; False (logged) when the message queue is unreachable.

    A failed emit never fails the request or task that caused it: the data is committed, and
    browsers catch up through `sync`.
    """
    if _socketio is None or not rooms:
        return False
    try:
        _socketio.emit(name, payload, to=rooms if len(rooms) > 1 else rooms[0])
    except Exception as exc:  # noqa: BLE001 - never fail the caller over a live event
        log.warning("could not publish %s: %s", name, exc)
        return False
    manager = getattr(getattr(_socketio, "server", None), "manager", None)
    return manager.take_outcome() if isinstance(manager, QueueManager) else True


# -- after-commit plumbing ---------------------------------------------------------------
#
# SQLAlchemy's `after_commit` event fires while the session can emit no SQL, and also when a
# SAVEPOINT is released; every publisher reads the rows it sends. So callbacks move to a
# "committed" list when the outermost transaction commits and run in `after_transaction_end`
# of that transaction, where queries are allowed again (they begin a new transaction).

_PENDING = "quantify_after_commit"
_COMMITTED = "quantify_committed"


def after_commit(session, callback: Callable[[], None]) -> None:
    """Call `callback` once the session's outermost transaction has committed.

    Register it inside the transaction that makes the data (a `write_transaction` block):
    a commit of an earlier, open read transaction would otherwise run it too early. A
    rollback of the outer transaction drops it; a rolled-back SAVEPOINT does not.
    """
    if isinstance(session, scoped_session):
        session = session()
    session.info.setdefault(_PENDING, []).append(callback)


@event.listens_for(OrmSession, "after_commit")
def _mark_committed(session):
    """The outer transaction committed: its callbacks may run once it has ended."""
    if session.in_nested_transaction():
        return  # a SAVEPOINT release; the outer transaction can still roll back
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@event.listens_for(OrmSession, "after_transaction_end")
def _run_committed(session, transaction):
    """Run (and forget) the callbacks of a committed outer transaction."""
    if transaction.parent is not None:
        return
    for callback in session.info.pop(_COMMITTED, []):
        try:
            callback()
        except Exception:  # a failed publish must not undo or hide a commit
            log.exception("after-commit callback failed")


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_commit(session):
    """A rolled-back transaction publishes nothing."""
    session.info.pop(_PENDING, None)


# -- what gets published ---------------------------------------------------------------

def publish_notifications(session, ids: Iterable[int], *, with_unread: bool = True) -> int:
    """Send each notification to its recipients and to operators; then their unread counts.

    Returns how many notifications reached the queue. Reads in batches so a scan that made
    100,000 notifications does not hold them all in memory.
    """
    ids = sorted(set(ids))
    sent = 0
    touched: set[int] = set()
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        rows = session.scalars(select(Notification).where(Notification.id.in_(batch))
                               .order_by(Notification.id)).all()
        recipients = notif_service.recipient_ids(session, batch)
        for n in rows:
            users = recipients.get(n.id, [])
            touched.update(users)
            if emit("notification", notification_json(n),
                    [OPERATORS, *(user_room(u) for u in users)]):
                sent += 1
    if with_unread and touched:
        publish_unread_counts(session, touched)
    return sent


def publish_unread_counts(session, user_ids: Iterable[int]) -> None:
    """Send each user's unread count, recomputed from the database, to all their tabs."""
    user_ids = list(user_ids)
    counts: dict[int, int] = defaultdict(int)
    for start in range(0, len(user_ids), 1000):
        batch = user_ids[start:start + 1000]
        rows = session.execute(
            select(NotificationDelivery.user_id, func.count())
            .where(NotificationDelivery.user_id.in_(batch),
                   NotificationDelivery.channel == notif_service.IN_APP,
                   NotificationDelivery.read_at.is_(None))
            .group_by(NotificationDelivery.user_id))
        counts.update(dict(rows.all()))
    for uid in user_ids:
        emit("unread_count", {"count": counts[uid]}, [user_room(uid)])


def publish_task_run(run: TaskRun) -> None:
    """A scan run changed state or progressed (operators only)."""
    emit("task_run", task_run_json(run), [OPERATORS])


def publish_wallet(session, wallet_id: int) -> None:
    """A wallet's balance or state changed: to operators and the wallet's residents."""
    wallet = session.get(Wallet, wallet_id, populate_existing=True)
    if wallet is None:
        return
    residents = resident_ids(session, wallet_id)
    emit("wallet", wallet_event(wallet), [OPERATORS, *(user_room(u) for u in residents)])


def resident_ids(session, wallet_id: int) -> list[int]:
    """Users who are residents of the wallet's unit today."""
    query = notif_service.recipients_query(utcnow().date()).where(Wallet.id == wallet_id)
    return [row.user_id for row in session.execute(query)]
