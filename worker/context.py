"""What a worker process needs beside Celery: the database engine and the event emitter."""
from __future__ import annotations

from dashboard import events
from dashboard.db import init_engine

_initialised_for: str | None = None


def init_worker_context(cfg) -> None:
    """Open the database and an emit-only Socket.IO on the Redis message queue (once)."""
    global _initialised_for
    key = f"{cfg.DATABASE_URL}|{cfg.SOCKETIO_MESSAGE_QUEUE}|{cfg.SOCKETIO_CHANNEL}"
    if _initialised_for == key:
        return
    init_engine(cfg.DATABASE_URL)
    events.init_queue(cfg.SOCKETIO_MESSAGE_QUEUE, cfg.SOCKETIO_CHANNEL)
    _initialised_for = key
