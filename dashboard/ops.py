"""Operations endpoints: /healthz (alive), /readyz (dependencies) and /metrics (Prometheus).

None of them needs a session. What they say about the inside (the figures of /metrics, the
per-dependency details of /readyz) is for the operator's monitoring only: in production it
needs `Authorization: Bearer <METRICS_TOKEN>`, and without a METRICS_TOKEN nobody gets it
(/metrics 401; /readyz answers only {status} to anonymous callers, so load balancers still
can probe it). Outside production the same holds once a METRICS_TOKEN is set. The nginx
sample (deploy/nginx.conf) also keeps both from the outside world.
"""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    choose_encoder,
    generate_latest,
)
from prometheus_client.registry import Collector
from sqlalchemy import text

from .checks import system_checks
from .db import Session
from .extensions import socketio
from .models import utcnow
from .services.channels import status as channel_status
from .services.ops.metrics import DatabaseCollector

bp = Blueprint("ops", __name__)


def check_database() -> dict:
    """SELECT 1 on the configured database."""
    started = time.perf_counter()
    try:
        Session.execute(text("SELECT 1"))
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # any failure means not ready; say which
        return {"ok": False, "error": type(exc).__name__}
    finally:
        Session.remove()


@bp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return jsonify(status="ok")


def token_gated() -> bool:
    """Whether the inside views need the token: always in production, elsewhere once set."""
    return current_app.config.get("ENV_NAME") == "production" or \
        bool(current_app.config.get("METRICS_TOKEN"))


def has_token() -> bool:
    """The request carries `Authorization: Bearer <METRICS_TOKEN>` (and a token is set)."""
    token = current_app.config.get("METRICS_TOKEN")
    return bool(token) and hmac.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode())


def may_see_inside() -> bool:
    """Whether this caller may see the figures and details."""
    return not token_gated() or has_token()


@bp.get("/readyz")
def readyz():
    """Ready when the database and Redis answer (503 otherwise); worker and beat are reported
    too, since a web process can serve pages without them but an operator needs to know.
    Callers without the token (where it is needed) get only {status}."""
    checks = {"database": check_database()}
    for check in system_checks():  # Redis, beat, worker: the same checks as the overview
        checks[check.name.lower()] = {"ok": check.ok, "state": check.state,
                                      "detail": check.detail}
    checks["channels"] = channel_checks()
    ready = checks["database"]["ok"] and checks["redis"]["ok"]
    status = "ready" if ready else "not ready"
    body = {"status": status, "checks": checks} if may_see_inside() else {"status": status}
    return jsonify(body), (200 if ready else 503)


def channel_checks() -> dict:
    """Email and SMS: configured or not ("off" says the channel is unset, and its deliveries
    are suppressed), sent, failed and waiting today. Reported, not part of readiness: a
    provider's trouble must not take the web out of the load balancer."""
    cfg = current_app.config
    try:
        health = channel_status.channel_health(
            Session, {"email": cfg.get("EMAIL_URL"), "sms": cfg.get("SMS_URL")}, utcnow(),
            cfg["CELERY_TIMEZONE"])
        return {c.channel: c.as_json() for c in health}
    except Exception as exc:  # the database check above says why
        return {"error": type(exc).__name__}
    finally:
        Session.remove()


class SocketCollector(Collector):
    """The Socket.IO connections held by this web process (each process reports its own)."""

    def describe(self) -> list:
        """Nothing up front."""
        return []

    def collect(self):
        """One gauge."""
        sockets = len(getattr(socketio.server.eio, "sockets", {})) if socketio.server else 0
        yield GaugeMetricFamily("quantify_socket_connections",
                                "Socket.IO connections held by this web process.", value=sockets)


def encoder_for(accept: str):
    """prometheus-client's format for the scraper's Accept header; a header it cannot read
    (`application/openmetrics-text; version=abc` raised a TypeError: a 500) gets the plain
    text format, as a scraper asking for nothing does."""
    try:
        return choose_encoder(accept)
    except (TypeError, ValueError):
        return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


@bp.get("/metrics")
def metrics():
    """The Prometheus exposition (text, or OpenMetrics when the scraper asks for it) of the
    database's figures (services/ops/metrics.py) and this process's sockets."""
    if not may_see_inside():
        abort(401)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(Session))
    registry.register(SocketCollector())
    encode, content_type = encoder_for(request.headers.get("Accept", ""))
    try:
        body = encode(registry)
    finally:
        Session.remove()
    return Response(body, content_type=content_type)
