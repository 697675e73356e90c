"""Operator pages for scans: a region per scan with Run now, the task history, run details.

Progress bars are moved by live.js from `task_run` events; the regions and the history
refresh themselves through their own routes on `task-run-updated`.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user

from .. import dispatch, events
from ..db import Session
from ..errors import error_body, http_status
from ..models import RUN_STATES, TRIGGERS, utcnow
from ..routing import ID_CONVERTER
from ..services.errors import Conflict, NotFound, Unavailable
from ..services.ids import parse_id
from ..services.scans import SCANS
from ..services.scans import control as scan_control
from ..services.scans import history as task_history
from ..services.scans import runs as task_runs
from .access import operator_required, staff_required
from .fragments import fragment_requested, page_or_fragment, tz
from .overview import feed_items

bp = Blueprint("scans", __name__, url_prefix="/scans")
HISTORY_PAGE = 15


@bp.get("")
@staff_required
def index():
    """Every scan's region, the newest runs and the live feed."""
    filters = task_history.RunFilters()
    runs, next_cursor = task_history.list_runs(Session, filters, limit=HISTORY_PAGE)
    return render_template("scans/index.html", scans=_describe(), **_history_context(
        filters, runs, next_cursor, None), feed=feed_items(10))


@bp.get("/<name>")
@staff_required
def region(name: str):
    """One scan's region: schedule, next run, last result, progress and Run now."""
    return page_or_fragment("scans/region.html", "scans/_scan.html", scan=_one(name))


@bp.post("/<name>/run")
@operator_required
def run_now(name: str):
    """Queue a manual run; 409 while that scan is queued or running, 503 if the broker is down.

    htmx gets the refreshed region, or for a refusal a JSON error (app.js shows its message)
    plus a `task-run-updated` trigger so the region redraws with the run that is in the way.
    """
    scan_control.check_name(name)
    try:
        run = scan_control.request_run(Session, name, "manual", current_user, dispatch.send,
                                       stale_after=task_runs.stale_after(
                                           current_app.config["TASK_RUN_STALE_SECONDS"]),
                                       announce=events.publish_task_run)
    except (Conflict, Unavailable) as exc:
        Session.rollback()
        if fragment_requested():
            return make_response(jsonify(error_body(exc)), http_status(exc),
                                 trigger="task-run-updated")
        flash(exc.message, "error")
        return _index_page(http_status(exc))
    if fragment_requested():
        return make_response(render_template("scans/_scan.html", scan=_one(name)),
                             trigger="task-run-updated")
    flash(f"{name} is queued (run {run.id}).", "success")
    return redirect(url_for(".index") + f"#scan-{name}", 303)


def _index_page(status: int):
    """The scans page with a flashed message, answered with `status` (no redirect: the
    status is the answer a script or test checks)."""
    filters = task_history.RunFilters()
    runs, next_cursor = task_history.list_runs(Session, filters, limit=HISTORY_PAGE)
    return render_template("scans/index.html", scans=_describe(), **_history_context(
        filters, runs, next_cursor, None), feed=feed_items(10)), status


@bp.get("/history")
@staff_required
def history():
    """Task runs, newest first, filtered by task, state and trigger (?before= pages)."""
    filters = task_history.parse_filters(request.args)
    before = request.args.get("before", "")
    before_id = parse_id(before)
    runs, next_cursor = task_history.list_runs(Session, filters, before_id=before_id,
                                               limit=HISTORY_PAGE)
    return page_or_fragment("scans/history.html", "scans/_history.html",
                            **_history_context(filters, runs, next_cursor, before_id))


def _history_context(filters, runs, next_cursor, before_id) -> dict:
    """What the history table and its filter form need."""
    return {"filters": filters, "runs": runs, "next_cursor": next_cursor, "before": before_id,
            "scan_names": list(SCANS), "run_states": RUN_STATES, "triggers": TRIGGERS}


@bp.get(f"/runs/<{ID_CONVERTER}:run_id>")
@staff_required
def run_detail(run_id: int):
    """One run: who and what asked, timings, progress, counts, error, what it notified."""
    run = task_history.get_run(Session, run_id)
    return page_or_fragment("scans/run.html", "scans/_run.html", run=run,
                            made=task_history.run_notifications(Session, run.id))


def _describe() -> list:
    """All scans with schedule, next run, last and active run."""
    return scan_control.describe(Session, utcnow(), tz())


def _one(name: str):
    """One scan's description (404 for a name that is not a scan)."""
    scan_control.check_name(name)
    for info in _describe():
        if info.name == name:
            return info
    raise NotFound(f"No scan named {name!r}.")
