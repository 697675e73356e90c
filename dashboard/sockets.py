"""The Socket.IO server: who may connect, which rooms they join, and `sync` for catching up.

Connect with the Flask session cookie of a signed-in browser, or with `auth: {token}` (an API
token, for scripts). Anything else is refused with "unauthorized": no credentials, a forged,
expired or revoked token, a disabled account, and also an `Authorization` header (the HTTP
API accepts one; the socket contract names only these two). Each connection joins
`user:<id>`; operators and viewers also join `operators`. Viewers get the whole feed; the
socket offers no actions, so there is nothing for them to be refused.

The user is saved on the socket at connect time (id, role, token version and, for a
browser, the id of its sign-in session), and every event the client sends re-checks it
against the database: a socket whose account was disabled, whose tokens were revoked
(token_version bumped), whose role changed or whose sign-in session ended is disconnected
instead of answered. Those changes also close the account's (or the session's) sockets at
once, on every web process (dashboard.events.close_sockets, called after the change is
committed: sign-out, the Users page, `run.py user`); a background sweep (`revalidate`, every
REVALIDATE_SECONDS) is the safety net for a control message lost while Redis was away, and
also ends the sockets of sessions that expired. Those are Socket.IO-level disconnects: the
browser does not retry them and shows "Offline".

While this process has lost its Redis subscription (see dashboard.events.queue) it would
miss events, so connections are refused with "unavailable" and data {"retry": true}; live.js
keeps retrying and shows "Reconnecting…" until the subscription is back.

This module decides who is answered and which rooms they join; what is sent, also in reply to
one socket, is dashboard.events' (the only code that emits). From flask_socketio it takes
only connection control: ConnectionRefusedError, disconnect and join_room.
"""
from __future__ import annotations

import logging
import threading
import weakref
from datetime import timedelta

from flask import current_app, request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, disconnect, join_room
from sqlalchemy import select

from . import auth as web_auth
from . import events
from .auth import user_for_token
from .db import Session
from .models import User, utcnow
from .services.accounts import sessions as login_sessions
from .services.ids import MAX_ID

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 1000  # ours are ~100 characters; do not verify megabytes
FIRST_LISTEN_WAIT = 3.0  # the Redis listener starts with the first connection of a process
REVALIDATE_SECONDS = 30

_revalidating: weakref.WeakSet = weakref.WeakSet()
_revalidating_lock = threading.Lock()


def register(socketio) -> None:
    """Attach the handlers to the Socket.IO server (and its publisher to dashboard.events)."""
    events.init(socketio)

    @socketio.on("connect")
    def on_connect(auth=None):
        """Refuse anonymous connections; put the user in their rooms; send the unread count."""
        try:
            found = _connection_user(auth)
            if found is None:
                raise ConnectionRefusedError("unauthorized")
            user, via = found
            if not events.listening(socketio.server, FIRST_LISTEN_WAIT):
                raise ConnectionRefusedError("unavailable", {"retry": True})
            socketio.server.save_session(request.sid, {
                events.SOCKET_USER: user.id, "role": user.role, "version": user.token_version,
                "via": via,
                events.SOCKET_LOGIN: web_auth.current_login_id() if via == "cookie" else None,
            }, namespace="/")
            join_room(events.user_room(user.id))
            if user.is_staff:
                join_room(events.OPERATORS)
            # In its rooms first, then known as connected: a scan that reads the presence
            # set from now on publishes to this socket; one that read it before committed
            # before this, so the client's sync (sent once connected) finds its rows.
            events.socket_joined(request.sid, user.id)
            events.reply_unread_count(Session, user)
        finally:
            Session.remove()
        _start_revalidation(socketio, web_auth.lifetimes(), current_app.config.get("CLOCK"))

    @socketio.on("disconnect")
    def on_disconnect(*_reason):
        """Forget the socket; its user leaves the presence set with their last socket."""
        events.socket_left(request.sid)

    @socketio.on("sync")
    def on_sync(data=None):
        """Send every notification after `after_id`, oldest first, then the unread count.

        Acknowledged with {sent, last_id} for clients that ask (python `call`).
        """
        try:
            user = _socket_user(socketio.server)
            if user is None:
                disconnect()
                return None
            after_id = data.get("after_id") if isinstance(data, dict) else None
            if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
                after_id = 0
            # Beyond 64 bits the database driver raised OverflowError and the client never got
            # its acknowledgement (tests/test_socket_matrix.py): nothing is newer than that.
            sent, last_id = events.replay_missed(Session, user, min(after_id, MAX_ID))
            return {"sent": sent, "last_id": last_id}
        finally:
            Session.remove()


def _connection_user(auth) -> tuple[User, str] | None:
    """(user, "cookie" | "token") for this handshake, or None.

    The cookie counts only as a Flask-Login session (`_user_id` in the signed session), not
    through the API's bearer-header request loader.
    """
    if "_user_id" in session and current_user.is_authenticated and current_user.active:
        return current_user._get_current_object(), "cookie"
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH:
        user = user_for_token(token)
        if user is not None:
            return user, "token"
    return None


def _still_valid(saved: dict, user: User | None) -> bool:
    """The account behind a socket may still see what it joined at connect time."""
    return (user is not None and user.active and user.token_version == saved.get("version")
            and user.role == saved.get("role"))


def _socket_user(server) -> User | None:
    """The user saved on this socket at connect time, freshly loaded; None when no longer
    valid (disabled, tokens revoked, role changed, deleted, its sign-in session over)."""
    saved = server.get_session(request.sid, namespace="/")
    if not saved:
        return None
    user = Session.get(User, saved.get(events.SOCKET_USER), populate_existing=True)
    if not _still_valid(saved, user):
        return None
    login_id = saved.get(events.SOCKET_LOGIN)
    if login_id is not None and not login_sessions.still_open(
            Session, [login_id], now=web_auth.now(), lifetimes=web_auth.lifetimes()):
        return None
    return user


# With no lifetimes given, `revalidate` checks only whether sessions ended.
FOREVER = login_sessions.Lifetimes(idle=timedelta(days=36500), absolute=timedelta(days=36500))


def revalidate(server, lifetimes: login_sessions.Lifetimes = FOREVER, clock=None) -> int:
    """Disconnect this process's sockets whose account is no longer valid, or whose sign-in
    session ended or expired; how many."""
    saved_by_sid = {}
    for sid, _eio_sid in list(server.manager.get_participants("/", None)):
        try:
            saved = server.get_session(sid, namespace="/")
        except KeyError:  # disconnected meanwhile
            continue
        if saved:
            saved_by_sid[sid] = saved
    if not saved_by_sid:
        return 0
    ids = sorted({s[events.SOCKET_USER] for s in saved_by_sid.values()})
    users: dict[int, object] = {}  # id -> a row with the User columns _still_valid reads
    try:
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            # Rows of the columns _still_valid reads, not User objects: a process with
            # thousands of sockets would build (and throw away) thousands every sweep.
            users.update({u.id: u for u in Session.execute(
                select(User.id, User.active, User.token_version, User.role)
                .where(User.id.in_(batch)))})
        logins = {s.get(events.SOCKET_LOGIN) for s in saved_by_sid.values()} - {None}
        open_logins = login_sessions.still_open(Session, logins, now=(clock or utcnow)(),
                                                lifetimes=lifetimes) if logins else set()
        stale = [sid for sid, saved in saved_by_sid.items()
                 if not _still_valid(saved, users.get(saved[events.SOCKET_USER]))
                 or (saved.get(events.SOCKET_LOGIN) is not None
                     and saved[events.SOCKET_LOGIN] not in open_logins)]
    finally:
        Session.remove()
    for sid in stale:
        server.disconnect(sid, namespace="/")
    if stale:
        log.info("disconnected %d socket(s) of disabled or revoked accounts or ended "
                 "sessions", len(stale))
    return len(stale)


def _start_revalidation(socketio, lifetimes, clock) -> None:
    """Start the revalidation sweep of this server once (with its first connection), judging
    sessions by the app's lifetimes and clock."""
    server = socketio.server
    with _revalidating_lock:
        if server in _revalidating:
            return
        _revalidating.add(server)

    def sweep():
        """Every REVALIDATE_SECONDS, for as long as the process lives."""
        while True:
            socketio.sleep(REVALIDATE_SECONDS)
            try:
                revalidate(server, lifetimes, clock)
            except Exception:  # a database hiccup must not end the sweep
                log.exception("socket revalidation failed")

    socketio.start_background_task(sweep)
