"""The one publisher of live events, used by the web app, the worker and the CLI alike; the
only code that emits on Socket.IO.

Events go through the Redis message queue, so whichever process emits, every web process
delivers them to its connected browsers. Rooms: `user:<id>` for each signed-in user and
`operators` for operators and viewers. Payloads carry data, never HTML. Events are published
after the database commit; a failed publish never fails the request or task that made the
data, because browsers catch up through `sync`.

Modules:
  publish  – what is sent to whom: notifications, unread counts, task runs, wallets (and
             a transaction's notifications, counts and wallet in one call: publish_outcome)
  scans    – a scan chunk's notifications: to connected residents, one summary to operators
  presence – which users are connected to some web process (kept in Redis)
  fanout   – many events in few queue messages, each payload encoded once
  roomindex – a disconnecting socket leaves its own rooms without walking all of them
  deliveries – the `delivery` event (operators), and the hook the worker's deliveries
             queue uses to hear of new notifications
  replies  – answers to one socket inside its handler (unread count on connect, `sync`)
  emitter  – the process's Socket.IO handle (`init`, `init_queue`) and emitting to rooms
  rooms    – room names
  control  – closing sockets of ended sessions and revoked accounts on every web process
  queue    – QueueManager, the Redis message-queue manager that fails fast and knows
             whether it is listening
  wire     – the queue message format, identical to python-socketio's own
"""
from .control import SOCKET_LOGIN, SOCKET_USER
from .deliveries import on_notifications_published, publish_deliveries
from .emitter import (
    close_sockets,
    connected_users,
    emit,
    emit_batch,
    emit_many,
    init,
    init_queue,
    socket_joined,
    socket_left,
)
from .publish import (
    notification_rows,
    publish_notifications,
    publish_outcome,
    publish_task_run,
    publish_unread_counts,
    publish_wallet,
)
from .queue import QueueManager, listening
from .replies import replay_missed, reply, reply_unread_count
from .rooms import OPERATORS, user_room
from .scans import publish_scan_notifications

__all__ = [
    "OPERATORS", "SOCKET_LOGIN", "SOCKET_USER", "QueueManager", "close_sockets",
    "connected_users", "emit", "emit_batch", "emit_many", "init", "init_queue", "listening",
    "notification_rows", "on_notifications_published", "publish_deliveries",
    "publish_notifications", "publish_outcome", "publish_scan_notifications",
    "publish_task_run", "publish_unread_counts", "publish_wallet", "replay_missed", "reply",
    "reply_unread_count", "socket_joined", "socket_left", "user_room",
]
