"""Scans (schedule, next run, Run now) and the task-run history."""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from .. import dispatch, events
from ..db import Session
from ..models import RUN_STATES, TRIGGERS, TaskRun, utcnow
from ..services.errors import NotFound, ValidationFailed
from ..services.scans import SCANS
from ..services.scans import control as scan_control
from ..services.scans import runs as task_runs
from ..services.serialize import iso, task_run_json
from ..services.wallets import parse_limit
from . import bp
from .helpers import ID, int_arg, listing, operator_only, staff_only


@bp.get("/scans")
@staff_only
def list_scans():
    """[{name, schedule, next_run_at, last_run}] with times in CELERY_TIMEZONE."""
    infos = scan_control.describe(Session, utcnow(), current_app.config["CELERY_TIMEZONE"])
    return jsonify([{"name": i.name, "schedule": i.schedule, "next_run_at": iso(i.next_run_at),
                     "last_run": task_run_json(i.last_run) if i.last_run else None,
                     "running": i.active_run is not None} for i in infos])


@bp.post("/scans/<name>/run")
@operator_only
def run_scan(name: str):
    """Run now: 202 with the queued task run; 409 while the same scan is queued or running."""
    run = scan_control.request_run(Session, name, "manual", current_user, dispatch.send,
                                   stale_after=task_runs.stale_after(
                                       current_app.config["TASK_RUN_STALE_SECONDS"]))
    events.publish_task_run(run)
    return jsonify(task_run=task_run_json(run)), 202


@bp.get("/task-runs")
@staff_only
def list_task_runs():
    """Task runs, newest first: ?task=&state=&trigger=&limit=&cursor=."""
    query = select(TaskRun)
    task, state, trigger = (request.args.get(k) for k in ("task", "state", "trigger"))
    if task:
        # A bad filter value is a 422 like ?state=, not a 404 for a list that exists.
        if task not in SCANS:
            raise ValidationFailed("Invalid task.", fields={"task": ", ".join(SCANS)})
        query = query.where(TaskRun.task == task)
    if state:
        if state not in RUN_STATES:
            raise ValidationFailed("Invalid state.", fields={"state": ", ".join(RUN_STATES)})
        query = query.where(TaskRun.state == state)
    if trigger:
        if trigger not in TRIGGERS:
            raise ValidationFailed("Invalid trigger.", fields={"trigger": ", ".join(TRIGGERS)})
        query = query.where(TaskRun.trigger == trigger)
    cursor = int_arg("cursor")
    if cursor:
        query = query.where(TaskRun.id < cursor)
    limit = parse_limit(request.args.get("limit"))
    rows = list(Session.scalars(query.order_by(TaskRun.id.desc()).limit(limit + 1)))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return jsonify(listing([task_run_json(r) for r in rows[:limit]], next_cursor))


@bp.get(f"/task-runs/<{ID}:run_id>")
@staff_only
def get_task_run(run_id: int):
    """One task run."""
    run = Session.get(TaskRun, run_id)
    if run is None:
        raise NotFound("No such task run.")
    return jsonify(task_run_json(run))
