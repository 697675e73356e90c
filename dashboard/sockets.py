"""The Socket.IO server: who may connect, which rooms they join, and `sync` for catching up."""
from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, disconnect, emit, join_room
from sqlalchemy import func, select

from . import events
from .auth import user_for_token
from .db import Session
from .extensions import socketio as _socketio_ext
from .models import Notification, User
from .services import notifications
from .services.serialize import notification_json

SYNC_LIMIT = 500  # rows per query while catching up
STAFF_BACKLOG = 1000  # operators see every notification; a feed needs only the recent ones


def _connection_user():
    """The user of this connection: the session cookie, else `auth: {token}`."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def register(socketio) -> None:
    """Attach the handlers to the Socket.IO server."""
    events.init(socketio)

    @socketio.on("connect")
    def on_connect(auth=None):
        """Refuse anonymous connections; put the user in their rooms."""
        user = _connection_user()
        if user is None and isinstance(auth, dict) and isinstance(auth.get("token"), str):
            user = user_for_token(auth["token"])
        Session.remove()
        if user is None:
            raise ConnectionRefusedError("unauthorized")
        # Remember who this socket is for its later events (the token is not resent).
        socketio.server.save_session(request.sid, {"user_id": user.id, "role": user.role},
                                     namespace="/")
        join_room(events.user_room(user.id))
        if user.is_staff:
            join_room(events.OPERATORS)
        emit("unread_count", {"count": _unread(user)})

    @socketio.on("sync")
    def on_sync(data=None):
        """Send every notification after `after_id`, oldest first, then the unread count."""
        user = _socket_user()
        if user is None:
            disconnect()
            return
        after_id = data.get("after_id") if isinstance(data, dict) else None
        if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
            after_id = 0
        try:
            if user.is_staff:
                newest = Session.scalar(select(func.max(Notification.id))) or 0
                after_id = max(after_id, newest - STAFF_BACKLOG)
            while True:
                rows = notifications.list_for(Session, user, after_id=after_id,
                                              limit=SYNC_LIMIT, newest_first=False)
                for n, read_at in rows:
                    emit("notification", notification_json(n, read_at))
                    after_id = n.id
                if len(rows) < SYNC_LIMIT:
                    break
            emit("unread_count", {"count": _unread(user)})
        finally:
            Session.remove()


def _socket_user():
    """The user saved on this socket at connect time, freshly loaded (None if disabled)."""
    saved = _socketio_ext.server.get_session(request.sid, namespace="/")
    user = Session.get(User, saved.get("user_id")) if saved else None
    return user if user is not None and user.active else None


def _unread(user) -> int:
    """The user's unread count, closing the session afterwards."""
    try:
        return notifications.unread_count(Session, user)
    finally:
        Session.remove()
