"""Scans (schedule, next run, Run now) and the task-run history, through the same services
as the Scans pages (the same filters, the same messages)."""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from .. import dispatch, events
from ..db import Session
from ..models import RUN_STATES, TRIGGERS, utcnow
from ..services.scans import control as scan_control
from ..services.scans import history as task_history
from ..services.scans import runs as task_runs
from ..services.serialize import iso, task_run_json
from ..services.wallets import parse_cursor_id, parse_limit
from .helpers import listing, operator_only, staff_only
from .schemas import ID_CURSOR, LIMIT, enum, listing_of, ref, scan_names
from .spec import query, route

RUN_LINK = {"GetTaskRun": {"operationId": "get_task_run",
                           "parameters": {"run_id": "$response.body#/task_run/id"}}}


@route("GET", "/scans", summary="The scans with schedule, next run and last run",
       answers={200: {"type": "array", "items": ref("Scan")}},
       links={200: {"RunScan": {"operationId": "run_scan",
                                "parameters": {"name": "$response.body#/0/name"}}}})
@staff_only
def list_scans():
    """[{name, schedule, next_run_at, last_run}] with times in CELERY_TIMEZONE."""
    infos = scan_control.describe(Session, utcnow(), current_app.config["CELERY_TIMEZONE"])
    return jsonify([{"name": i.name, "schedule": i.schedule, "next_run_at": iso(i.next_run_at),
                     "last_run": task_run_json(i.last_run) if i.last_run else None,
                     "running": i.active_run is not None} for i in infos])


@route("POST", "/scans/{name}/run", summary="Run a scan now",
       path_params={"name": enum(scan_names(), description="The scan's Celery task name.")},
       answers={202: ref("TaskRunResult")}, refusals=(409, 503), links={202: RUN_LINK},
       description="409 while the same scan is queued or running; 503 when the task queue "
                   "cannot be reached.")
@operator_only
def run_scan(name: str):
    """Run now: 202 with the queued task run; 409 while the same scan is queued or running."""
    run = scan_control.request_run(Session, name, "manual", current_user, dispatch.send,
                                   stale_after=task_runs.stale_after(
                                       current_app.config["TASK_RUN_STALE_SECONDS"]),
                                   announce=events.publish_task_run)
    return jsonify(task_run=task_run_json(run)), 202


@route("GET", "/task-runs", summary="Task run history, newest first",
       params=[query("task", enum(scan_names())), query("state", enum(RUN_STATES)),
               query("trigger", enum(TRIGGERS)), LIMIT, ID_CURSOR],
       answers={200: listing_of("TaskRun")},
       links={200: {"GetTaskRun": {"operationId": "get_task_run",
                                   "parameters": {"run_id": "$response.body#/items/0/id"}}}})
@staff_only
def list_task_runs():
    """Task runs, newest first: ?task=&state=&trigger=&limit=&cursor=."""
    filters = task_history.parse_filters(request.args)
    limit = parse_limit(request.args.get("limit"))
    runs, next_id = task_history.list_runs(
        Session, filters, before_id=parse_cursor_id(request.args.get("cursor")), limit=limit)
    return jsonify(listing([task_run_json(r) for r in runs], next_id))


@route("GET", "/task-runs/{run_id}", summary="One task run", answers={200: ref("TaskRun")})
@staff_only
def get_task_run(run_id: int):
    """One task run."""
    return jsonify(task_run_json(task_history.get_run(Session, run_id)))
