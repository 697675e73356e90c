"""The one publisher of live events, used by the web app and the worker alike.

Events go through the Redis message queue, so whichever process emits, every web process
delivers them to its connected browsers. Rooms: `user:<id>` for each signed-in user and
`operators` for operators and viewers. Payloads carry data, never HTML.

Events: `notification` (to its recipients and operators),
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

It can also publish many events in one pipelined Redis call (`emit_many`): a scan's chunk of
notifications costs one round trip per 1,000 events instead of one each, with the very
messages the stock manager would publish, so the web's listener handles them unchanged. The
unread counts after it go one message per distinct count, to the rooms of all its users.
"""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import redis
import socketio as socketio_pkg
from redis.backoff import NoBackoff
from redis.retry import Retry
from socketio.packet import Packet
from sqlalchemy import event, func, inspect, select
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
        self._batch_publisher: redis.Redis | None = None
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

    # Events per pipelined call: one round trip each, and a bounded buffer (~1 MB) per call.
    PIPELINE_SIZE = 1000

    def _batch_client(self) -> redis.Redis:
        """The pipelines' connection pool: as `_client`, but never retried, because a pipeline
        that broke after Redis had run part of it would, sent again, publish that part twice.
        (A pooled connection that died with a Redis restart is replaced before use anyway.)"""
        with self._publisher_lock:
            if self._batch_publisher is None:
                self._batch_publisher = redis.Redis.from_url(
                    self.redis_url, socket_connect_timeout=self.CONNECT_TIMEOUT,
                    socket_timeout=5, retry=Retry(NoBackoff(), 0))
            return self._batch_publisher

    def queue_message(self, event_name: str, data: Any, room: str | list[str], *,
                      binary: bool | None = None) -> dict:
        """The queue message PubSubManager.emit makes for one event to `room` of the default
        namespace, without skip_sid or callback: same keys, same order, so the same bytes.
        `binary` (whether data holds bytes) is found out as the stock emit does unless given."""
        data = list(data) if isinstance(data, tuple) else [data]
        if binary is None:
            binary = Packet.data_is_binary(data)
        if binary:
            data, attachments = Packet.deconstruct_binary(data)
            data = [data, *[base64.b64encode(a).decode() for a in attachments]]
        return {"method": "emit", "event": event_name, "data": data, "binary": binary,
                "namespace": "/", "room": room, "skip_sid": None, "callback": None,
                "host_id": self.host_id}

    def _encoded(self, event_name: str, data: Any, room: str | list[str]) -> tuple[dict, str]:
        """queue_message(...) and its serialised form, as the stock emit would publish it."""
        if self.json.dumps is json.dumps:
            # The standard encoder refuses bytes, so a message it encodes carries no binary
            # attachment, binary=False is what Packet.data_is_binary would have found, and
            # that second walk of every payload (as costly as encoding it) can be skipped.
            message = self.queue_message(event_name, data, room, binary=False)
            try:
                return message, json.dumps(message)
            except TypeError:
                pass  # bytes somewhere (or something unencodable): the stock way decides
        message = self.queue_message(event_name, data, room)
        return message, self.json.dumps(message)

    def emit_many(self, items: Iterable[tuple[str, Any, str | list[str]]]) -> int:
        """Emit (event, data, room) items in order, as many `emit` calls would: each is
        delivered to this process's own clients, and all are published in pipelined calls of
        PIPELINE_SIZE. Returns how many reached Redis; never raises."""
        sent = 0
        payloads: list[str] = []
        for event_name, data, room in items:
            try:
                message, payload = self._encoded(event_name, data, room)
                self._handle_emit(message)  # this host's clients, as the stock emit does
                payloads.append(payload)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the rest
                log.warning("could not publish %s: %s", event_name, exc)
                continue
            if len(payloads) >= self.PIPELINE_SIZE:
                sent += self._publish_many(payloads)
                payloads = []
        if payloads:
            sent += self._publish_many(payloads)
        return sent

    def _publish_many(self, payloads: list[str]) -> int:
        """Publish serialised queue messages in one pipelined call; how many Redis accepted.

        Fails like `_publish`: a Redis error starts the quiet period, inside which nothing is
        tried. A call that broke counts as none delivered, though Redis may have run its first
        commands: the count is what is known to have arrived (browsers drop a repeated id and
        catch up through `sync`, so neither direction of doubt loses anything)."""
        now = time.monotonic()
        if now < self._quiet_until:
            return 0
        try:
            with self._batch_client().pipeline(transaction=False) as pipe:
                for payload in payloads:
                    pipe.publish(self.channel, payload)
                results = pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            self._quiet_until = now + self.QUIET_SECONDS
            log.warning("live events: publishing %d events to Redis failed (%s); browsers "
                        "will catch up through sync", len(payloads), exc)
            return 0
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:  # e.g. a read-only replica: treat as an outage, like a single publish
            self._quiet_until = now + self.QUIET_SECONDS
            log.warning("live events: Redis refused %d of %d events (%s)", len(failed),
                        len(results), failed[0])
        return len(results) - len(failed)

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


def emit_many(items: Iterable[tuple[str, dict, list[str]]]) -> int:
    """Emit (event, payload, rooms) items in order; how many reached the message queue.

    Through a QueueManager they go in pipelined Redis calls (QueueManager.emit_many); through
    any other manager (tests' stand-ins, a queue-less server), one `emit` each.
    """
    if _socketio is None:
        return 0
    manager = getattr(getattr(_socketio, "server", None), "manager", None)
    if not isinstance(manager, QueueManager):
        return sum(emit(name, payload, rooms) for name, payload, rooms in items)
    # The room argument exactly as `emit` passes it, so the queue messages are identical.
    return manager.emit_many((name, payload, rooms if len(rooms) > 1 else rooms[0])
                             for name, payload, rooms in items if rooms)


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

# Every mapped column of a notification, each labelled with its attribute name: a row of them
# reads like the ORM object to serialize.notification_json (row.id, row.data, ...), so the live
# payload keeps coming from the one serializer, without building ORM objects (identity map,
# instance state) that are thrown away straight after.
NOTIFICATION_COLUMNS = tuple(getattr(Notification, attr.key)
                             for attr in inspect(Notification).column_attrs)


def notification_rows(session, ids: list[int]):
    """The notifications with these ids, in id order, as rows for notification_json."""
    return session.execute(select(*NOTIFICATION_COLUMNS).where(Notification.id.in_(ids))
                           .order_by(Notification.id)).all()


def publish_notifications(session, ids: Iterable[int], *, with_unread: bool = True) -> int:
    """Send each notification to its recipients and to operators; then their unread counts.

    Returns how many notifications reached the queue. Reads in batches so a scan that made
    100,000 notifications does not hold them all in memory; each batch is published in one
    pipelined call (emit_many).
    """
    ids = sorted(set(ids))
    sent = 0
    touched: set[int] = set()
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        recipients = notif_service.recipient_ids(session, batch)
        items = []
        for row in notification_rows(session, batch):
            users = recipients.get(row.id, [])
            touched.update(users)
            items.append(("notification", notification_json(row),
                          [OPERATORS, *(user_room(u) for u in users)]))
        sent += emit_many(items)
    if with_unread and touched:
        publish_unread_counts(session, touched)
    return sent


UNREAD_ROOMS = 1000  # rooms per `unread_count` message: ~15 kB, cheap for a web to route


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
    # One message per distinct count, to the rooms of every user with that count (at most
    # UNREAD_ROOMS per message): each tab still receives exactly its user's {count}, but a scan
    # that touched 100,000 users queues a few dozen messages instead of 100,000.
    rooms_by_count: dict[int, list[str]] = defaultdict(list)
    for uid in user_ids:
        rooms_by_count[counts[uid]].append(user_room(uid))
    emit_many(("unread_count", {"count": count}, rooms[start:start + UNREAD_ROOMS])
              for count, rooms in rooms_by_count.items()
              for start in range(0, len(rooms), UNREAD_ROOMS))


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
