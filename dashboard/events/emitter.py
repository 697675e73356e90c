"""The one Socket.IO handle of a process, and emitting to rooms through it.

The web app hands over its Flask-SocketIO instance (sockets.register → `init`); the worker and
the CLI, which serve no browsers, get an emit-only one on the Redis message queue
(`init_queue`, without Flask). Either way the Redis manager in use is a QueueManager.

A publish can fail (Redis restarting, a network blip). It never fails the request or task
that made the data: the rows are committed and browsers catch up through `sync` (on every
reconnect, every 30 s and when a tab becomes visible; see static/js/live.js).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from . import control, presence
from .queue import QueueManager, install_queue_manager

log = logging.getLogger(__name__)

_socketio = None  # the Flask-SocketIO instance events go through; None until `init`
_beating: set[int] = set()  # ids of the presence objects whose heartbeat runs


def init(socketio) -> None:
    """Use this Flask-SocketIO instance (the web app's, or an emit-only one)."""
    global _socketio
    install_queue_manager(socketio)
    _socketio = socketio


class EmitOnly:
    """The emit-only Socket.IO of a process that serves no browsers: python-socketio's server
    on a write-only QueueManager, in threading mode, with the part of Flask-SocketIO's
    interface this module uses (`server`, `emit`).

    Flask-SocketIO would do the same with Flask loaded, and, left to pick its mode, with
    gevent imported: the worker and the command line need neither (`python run.py scan`
    starts faster by that much). Its messages are the very ones Flask-SocketIO's emit sends
    (both call socketio.Server.emit).
    """

    def __init__(self, url: str, channel: str):
        """Nothing connects until the first emit."""
        import socketio as socketio_pkg

        self.server = socketio_pkg.Server(
            client_manager=QueueManager(url, channel=channel, write_only=True),
            async_mode="threading")

    def emit(self, event: str, *args, to=None, namespace: str = "/", **kwargs) -> None:
        """Emit `event` to the rooms `to` (as Flask-SocketIO's SocketIO.emit does)."""
        self.server.emit(event, *args, to=to, namespace=namespace, **kwargs)


def init_queue(url: str, channel: str) -> EmitOnly:
    """Publish from a process that serves no browsers (the worker, the CLI): an emit-only
    Socket.IO on the Redis message queue at `url`, on `channel`. Returns it."""
    socketio = EmitOnly(url, channel)
    init(socketio)
    return socketio


def _manager():
    """The client manager of the Socket.IO server in use (None without one)."""
    return getattr(getattr(_socketio, "server", None), "manager", None)


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
    manager = _manager()
    return manager.take_outcome() if isinstance(manager, QueueManager) else True


def emit_many(items: Iterable[tuple[str, dict, list[str]]]) -> int:
    """Emit (event, payload, rooms) items in order; how many reached the message queue.

    Through a QueueManager they go in pipelined Redis calls (QueueManager.emit_many); through
    any other manager (a server without a message queue, the tests' recorder), one `emit`
    each.
    """
    if _socketio is None:
        return 0
    manager = _manager()
    if not isinstance(manager, QueueManager):
        return sum(emit(name, payload, rooms) for name, payload, rooms in items)
    # The room argument exactly as `emit` passes it, so the queue messages are identical.
    return manager.emit_many((name, payload, rooms if len(rooms) > 1 else rooms[0])
                             for name, payload, rooms in items if rooms)


def emit_batch(items: Iterable[tuple[str, dict, list[str]]]) -> int:
    """Emit (event, payload, rooms) items as fan-out batches (dashboard.events.fanout): each
    payload encoded once, many events to a queue message; how many reached the queue.
    Through any other manager than a QueueManager, one `emit` each."""
    if _socketio is None:
        return 0
    manager = _manager()
    if not isinstance(manager, QueueManager):
        return sum(emit(name, payload, rooms) for name, payload, rooms in items)
    return manager.emit_batch(items)


def socket_joined(sid: str, user_id: int) -> None:
    """A socket of `user_id` connected to this web process: record it in Redis
    (dashboard.events.presence) before the handler returns; start the heartbeat once."""
    manager = _manager()
    if not isinstance(manager, QueueManager) or manager.write_only:
        return
    manager.presence.joined(sid, user_id)
    if id(manager.presence) not in _beating:
        _beating.add(id(manager.presence))
        _socketio.start_background_task(_heartbeat, manager.presence)


def socket_left(sid: str) -> None:
    """A socket of this web process disconnected."""
    manager = _manager()
    if isinstance(manager, QueueManager) and not manager.write_only:
        manager.presence.left(sid)


def _heartbeat(tracker: presence.Presence) -> None:
    """Rewrite and renew this process's presence every HEARTBEAT seconds, for as long as
    the process lives."""
    while True:
        _socketio.sleep(presence.HEARTBEAT)
        try:
            tracker.beat()
        except Exception:  # never end the heartbeat: its users would vanish after TTL
            log.exception("presence heartbeat failed")


def connected_users() -> set[int] | None:
    """Users with a socket on some web process now; None when unknown (no message queue,
    whose single process would deliver to anyone anyway, or Redis not answering)."""
    manager = _manager()
    return manager.connected_users() if isinstance(manager, QueueManager) else None


def close_sockets(*, sessions=(), users=()) -> bool:
    """Close the open sockets of these sign-in sessions and of these users, on every web
    process (dashboard.events.control); False when the message queue was unreachable (other
    processes then close theirs at their next sweep). Call after the commit that ended them.
    """
    sessions, users = list(sessions), list(users)
    if _socketio is None or not (sessions or users):
        return False
    manager = _manager()
    try:
        if isinstance(manager, QueueManager):
            return manager.close_sockets(sessions, users)
        # No message queue: this process is the only one with sockets.
        control.close_local(getattr(_socketio, "server", None), sessions, users)
        return True
    except Exception as exc:  # noqa: BLE001 - never fail the caller: the sweep is the net
        log.warning("could not close sockets: %s", exc)
        return False
