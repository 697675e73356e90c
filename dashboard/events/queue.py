"""The Socket.IO message-queue manager of every process: python-socketio's RedisManager with
three changes, all so the live feed can be honest about what it delivers.

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
  the subscription is back (`listening`); the first connect after that syncs, so nothing is
  missed.
* It exists in the worker too: `install_queue_manager` swaps it in for the stock manager of
  any Flask-SocketIO instance, the web's and the worker's emit-only one, so both sides
  publish the same way.

It can also publish many events in one pipelined Redis call (`emit_many`): a burst of
notifications costs one round trip per 1,000 events instead of one each, with the very
messages the stock manager would publish (dashboard.events.wire), so the web's listener
handles them unchanged. A scan's fan-out goes further (`emit_batch`, dashboard.events.fanout):
hundreds of finished Socket.IO packets to a message, which its listener hands to the rooms'
sockets without decoding them. A web process's QueueManager also records which users it
has sockets for (`presence`, dashboard.events.presence) and answers who is connected
anywhere (`connected_users`); and a closing socket leaves only its own rooms
(dashboard.events.roomindex).

It overrides RedisManager._publish, _listen and _redis_listen_with_retries, calls
PubSubManager._handle_emit and server.eio.disconnect: tests/test_events_internals.py fails
when the pinned python-socketio or python-engineio changes any of them.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
import socketio as socketio_pkg
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import control, presence, wire
from .fanout import FanoutMixin
from .roomindex import RoomIndexMixin

log = logging.getLogger(__name__)


def _keepalive_options() -> dict:
    """TCP keepalive probes after 30 s idle, so a half-open subscription dies in ~1 minute
    instead of the kernel's default two hours (Linux names; other systems keep defaults)."""
    names = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
    return {getattr(socket, n): v for n, v in names.items() if hasattr(socket, n)}


class QueueManager(FanoutMixin, RoomIndexMixin, socketio_pkg.RedisManager):
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
        self._presence: presence.Presence | None = None

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

    def emit_many(self, items: Iterable[tuple[str, Any, str | list[str]]]) -> int:
        """Emit (event, data, room) items in order, as many `emit` calls would: each is
        delivered to this process's own clients, and all are published in pipelined calls of
        PIPELINE_SIZE. Returns how many reached Redis; never raises."""
        sent = 0
        payloads: list[str] = []
        for event_name, data, room in items:
            try:
                message, payload = wire.encoded(self.json, self.host_id, event_name, data,
                                                room)
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

    # -- presence ------------------------------------------------------------------------

    @property
    def presence(self) -> presence.Presence:
        """This web process's connected users, mirrored in Redis (dashboard.events.presence)."""
        with self._publisher_lock:
            if self._presence is None:
                self._presence = presence.Presence(self._client, self.channel, self.host_id)
        return self._presence

    def connected_users(self) -> set[int] | None:
        """Users with a socket on some web process; None when Redis could not say (inside
        the quiet period after a failure, or failing now)."""
        now = time.monotonic()
        if now < self._quiet_until:
            return None
        try:
            return presence.connected_users(self._batch_client(), self.channel)
        except (redis.RedisError, OSError) as exc:
            self._quiet_until = now + self.QUIET_SECONDS
            log.warning("live events: could not read who is connected (%s)", exc)
            return None

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
        which would fail on our own pub/sub object once closed), less our control messages,
        which are handled here (see close_sockets)."""
        channel = self.channel.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if message["channel"] == channel and message["type"] == "message" \
                    and "data" in message:
                data = message["data"]
                if not self._handled_control(data) and not self._handled_batch(data):
                    yield data

    # -- control messages ----------------------------------------------------------------

    # Only a control message has this at its top level: inside an event's data the quotes
    # would be escaped, so a cheap byte search finds the candidates.
    CONTROL_MARK = f'"method": "{control.CLOSE}"'.encode()

    def close_sockets(self, sessions, users) -> bool:
        """Close the sockets of these sign-in sessions and users: this process's now, every
        other web process's when they read the control message. False when it could not be
        published (the other processes' sweeps close theirs within REVALIDATE_SECONDS)."""
        message = control.close_message(self.host_id, sessions, users)
        if not self.write_only and self.server is not None:
            control.close_local(self.server, message["sessions"], message["users"])
        return self._publish(message)

    def _handled_control(self, data) -> bool:
        """Handle a control message from another process; False for anything else."""
        if not isinstance(data, (bytes, str)):
            return False
        raw = data if isinstance(data, bytes) else data.encode()
        if self.CONTROL_MARK not in raw[:40]:
            return False
        try:
            message = self.json.loads(raw)
        except ValueError:
            return False
        if not isinstance(message, dict) or message.get("method") != control.CLOSE:
            return False
        if message.get("host_id") != self.host_id and not self.write_only:
            try:
                control.close_local(self.server, message.get("sessions") or (),
                                    message.get("users") or ())
            except Exception:  # a bad message must not end the listener
                log.exception("could not close sockets")
        return True

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
    then); dashboard.events.init calls it, for the web through sockets.register and for the
    worker and the CLI through init_queue.
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


def listening(server, timeout: float) -> bool:
    """Whether this process receives what the message queue carries, so a browser connected
    to it would miss nothing. Waits up to `timeout` only for the very first subscription.
    True for a server without a QueueManager (no message queue: nothing to miss)."""
    manager = getattr(server, "manager", None)
    return manager.wait_until_listening(timeout) if isinstance(manager, QueueManager) else True
