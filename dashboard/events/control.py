"""Closing sockets at once, on every web process: when a session ends (sign-out) or an
account loses its access (disabled, sessions revoked, password set).

Each socket records at connect who it belongs to (SOCKET_USER) and, for a browser, which
sign-in session it rides on (SOCKET_LOGIN): dashboard.sockets saves them under these names.
`close_sockets` closes this process's matching sockets and publishes a control message on
the Socket.IO channel, which every other web process's QueueManager handles the same way,
so a signed-out tab or a disabled operator's dashboard stops receiving the feed within
milliseconds, wherever it is connected. The socket sweep (dashboard.sockets.revalidate, every
30 s) stays as the safety net for a message lost while Redis was away.

These are Socket.IO-level disconnects: the browser does not reconnect by itself.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

SOCKET_USER = "user_id"  # the user id a socket was opened by
SOCKET_LOGIN = "login"  # the id of the sign-in session (user_sessions) of a browser socket
CLOSE = "quantify_close_sockets"  # the control message's `method`
NAMESPACE = "/"


def close_message(host_id: str, sessions: Iterable[int], users: Iterable[int]) -> dict:
    """The control message: close the sockets of these sessions and of these users."""
    return {"method": CLOSE, "sessions": sorted({int(s) for s in sessions}),
            "users": sorted({int(u) for u in users}), "host_id": host_id}


def _local_sids(server) -> list[str]:
    """This process's connected sockets of the default namespace (a copy: sockets come and
    go on other threads while we look)."""
    for _ in range(3):
        try:
            return [sid for sid, _eio in server.manager.get_participants(NAMESPACE, None)]
        except RuntimeError:  # the room changed size while it was walked: look again
            continue
        except KeyError:  # nobody has ever connected to the namespace
            return []
    return []


def close_local(server, sessions: Iterable[int], users: Iterable[int]) -> int:
    """Disconnect this process's sockets opened by one of `users` or riding on one of
    `sessions`; how many."""
    sessions, users = set(sessions), set(users)
    if server is None or not (sessions or users):
        return 0
    closed = 0
    for sid in _local_sids(server):
        try:
            saved = server.get_session(sid, namespace=NAMESPACE) or {}
        except KeyError:  # gone meanwhile
            continue
        if saved.get(SOCKET_USER) in users or saved.get(SOCKET_LOGIN) in sessions:
            server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
            closed += 1
    if closed:
        log.info("closed %d socket(s) of ended sessions or revoked accounts", closed)
    return closed
