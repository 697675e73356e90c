"""The system checks (Redis, beat, worker) of this app's settings: one source for the overview
page's health widget and for /readyz."""
from __future__ import annotations

from flask import current_app

from . import dispatch
from .services.ops import health


def _ping() -> list:
    """Ask the workers through the broker; return at the first answer (limit=1)."""
    return dispatch.client().control.ping(timeout=health.PING_TIMEOUT, limit=1)


def system_checks() -> list[health.Check]:
    """Redis, beat and worker checks from this app's settings."""
    cfg = current_app.config
    return health.system_health(redis_url=cfg["REDIS_URL"], broker_url=cfg["CELERY_BROKER_URL"],
                                channel=cfg["SOCKETIO_CHANNEL"], ping=_ping,
                                use_cache=not cfg.get("TESTING"))
