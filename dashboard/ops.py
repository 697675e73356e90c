"""Operations endpoints: /healthz (alive), /readyz (dependencies) and /metrics (Prometheus).

None of them needs a session; /metrics can require a bearer token (METRICS_TOKEN).
"""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import func, select, text

from .db import Session
from .extensions import socketio
from .models import Notification, TaskRun, Wallet
from .views.overview import system_checks

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


@bp.get("/readyz")
def readyz():
    """Ready when the database and Redis answer (503 otherwise); worker and beat are reported
    too, since a web process can serve pages without them but an operator needs to know."""
    checks = {"database": check_database()}
    for check in system_checks():  # Redis, beat, worker: the same checks as the overview
        checks[check.name.lower()] = {"ok": check.ok, "state": check.state,
                                      "detail": check.detail}
    ready = checks["database"]["ok"] and checks["redis"]["ok"]
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)


def _metric(lines: list[str], name: str, kind: str, help_text: str, samples) -> None:
    """Append one metric family in the Prometheus text format."""
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")


@bp.get("/metrics")
def metrics():
    """Task runs by state and duration, notifications by type, wallets by state, sockets."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""),
                                         f"Bearer {token}"):
        abort(401)
    lines: list[str] = []
    try:
        runs = Session.execute(select(TaskRun.task, TaskRun.state, func.count())
                               .group_by(TaskRun.task, TaskRun.state)).all()
        _metric(lines, "quantify_task_runs", "gauge", "Task runs recorded, by task and state.",
                [({"task": t, "state": s}, n) for t, s, n in runs])
        finished = Session.execute(select(TaskRun.task, TaskRun.started_at, TaskRun.finished_at)
                                   .where(TaskRun.finished_at.is_not(None),
                                          TaskRun.started_at.is_not(None))
                                   .order_by(TaskRun.id.desc()).limit(500)).all()
        durations: dict[str, list[float]] = {}
        for task, started, ended in finished:
            durations.setdefault(task, []).append((ended - started).total_seconds())
        _metric(lines, "quantify_task_run_duration_seconds_sum", "gauge",
                "Total duration of the last 500 finished runs, by task.",
                [({"task": t}, round(sum(d), 3)) for t, d in durations.items()])
        _metric(lines, "quantify_task_run_duration_seconds_count", "gauge",
                "Number of runs in the duration sum, by task.",
                [({"task": t}, len(d)) for t, d in durations.items()])
        by_type = Session.execute(select(Notification.type, func.count())
                                  .group_by(Notification.type)).all()
        _metric(lines, "quantify_notifications", "gauge", "Notifications stored, by type.",
                [({"type": t}, n) for t, n in by_type])
        by_state = Session.execute(select(Wallet.state, func.count())
                                   .group_by(Wallet.state)).all()
        _metric(lines, "quantify_wallets", "gauge", "Wallets by state.",
                [({"state": s}, n) for s, n in by_state])
    finally:
        Session.remove()
    sockets = len(getattr(socketio.server.eio, "sockets", {})) if socketio.server else 0
    _metric(lines, "quantify_socket_connections", "gauge",
            "Socket.IO connections held by this web process.", [({}, sockets)])
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
