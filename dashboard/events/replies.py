"""Answers to one socket from inside its Socket.IO handler: the unread count when it connects,
and the notifications it missed when it asks to `sync`.

They go to the asking socket directly, never through the Redis message queue: only the web
process holding that socket could deliver them, so a round trip through Redis to every web
process would cost without reaching anyone else.
"""
from __future__ import annotations

from sqlalchemy import func, select

from ..models import Notification
from ..services import notifications
from ..services.serialize import notification_json

SYNC_LIMIT = 500  # rows per query while catching up
STAFF_BACKLOG = 1000  # operators see every notification; a feed needs only the recent ones


def reply(name: str, payload: dict) -> None:
    """Send one event to the socket whose handler is running (and to no other)."""
    # Only the web answers sockets: the worker and the command line, which import this
    # package to publish, do not load Flask-SocketIO (and Flask) for it.
    from flask_socketio import emit as _emit_to_caller

    _emit_to_caller(name, payload, ignore_queue=True)


def reply_unread_count(session, user) -> None:
    """Tell the asking socket its user's unread count, as the notification service counts."""
    reply("unread_count", {"count": notifications.unread_count(session, user)})


def replay_missed(session, user, after_id: int) -> tuple[int, int]:
    """Send the asking socket every notification `user` may see after `after_id`, oldest
    first, then the unread count. Returns (how many were sent, where the next sync should
    start): the last id sent, but never past an id below which a notification may still
    commit (services/notifications/cursor.py), so a lower id that commits after a higher one
    was sent is sent next time; the client drops the repeats by id.

    Staff see every notification, so their catch-up starts at most STAFF_BACKLOG back from
    the newest; residents get all of their own.
    """
    settled = notifications.settled_id(session)  # before reading the rows it bounds
    if user.is_staff:
        newest = session.scalar(select(func.max(Notification.id))) or 0
        after_id = max(after_id, newest - STAFF_BACKLOG)
    sent, last_sent, cursor = 0, None, after_id
    while True:
        rows = notifications.list_for(session, user, after_id=cursor, limit=SYNC_LIMIT,
                                      newest_first=False)
        for notification, read_at in rows:
            reply("notification", notification_json(notification, read_at))
            cursor = last_sent = notification.id
            sent += 1
        if len(rows) < SYNC_LIMIT:
            break
    reply_unread_count(session, user)
    return sent, notifications.resume_after(after_id, last_sent, settled)
