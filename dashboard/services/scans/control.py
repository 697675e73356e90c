"""Starting scans on demand and describing them: shared by the API, the pages and the CLI."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ...db import write_transaction
from ...models import TaskRun
from ..errors import NotFound
from . import runs as task_runs
from .catalogue import SCANS, next_run


@dataclass
class ScanInfo:
    """A scan as the dashboard shows it."""

    name: str
    schedule: str
    next_run_at: datetime
    last_run: TaskRun | None
    active_run: TaskRun | None


def check_name(name: str) -> str:
    """404 for anything that is not a scan of the catalogue."""
    if name not in SCANS:
        raise NotFound(f"No scan named {name!r}.")
    return name


def describe(session, now: datetime, tz: str) -> list[ScanInfo]:
    """Every scan with its schedule, next run (local time), last and active run."""
    infos = []
    for scan in SCANS.values():
        last = session.scalars(select(TaskRun).where(TaskRun.task == scan.name)
                               .order_by(TaskRun.id.desc()).limit(1)).first()
        infos.append(ScanInfo(scan.name, scan.description, next_run(scan.schedule, now, tz),
                              last, task_runs.active_run(session, scan.name)))
    return infos


def request_run(session, name: str, trigger: str, user, send, *,
                stale_after: timedelta, announce: Callable[[TaskRun], None] | None = None
                ) -> TaskRun:
    """Record a queued run and hand it to the worker (409 while that scan is active).

    Runs silent for `stale_after` (TASK_RUN_STALE_SECONDS) are reaped first. `send(task_name,
    **kwargs)` queues the task and returns its id; if the broker is down the run is marked
    failed with the reason, and the error propagates (a 503 for the web).

    `announce(run)` (the web's publisher) is told of the queued run before the task is sent,
    so its `queued` event always goes out before the worker's `running`. Returns the run as
    queued, which is what Run now answers with.
    """
    check_name(name)
    run = task_runs.create_run(session, name, trigger, user=user, stale_after=stale_after)
    if announce is not None:
        announce(run)
    try:
        celery_id = send(name, task_run_id=run.id, trigger=trigger)
    except Exception as exc:
        with write_transaction(session):
            failed = task_runs.fail(session, run.id, f"Could not queue the scan: {exc}")
        if announce is not None:
            announce(failed)  # browsers that saw it queued see why it stopped
        raise
    with write_transaction(session):
        task_runs.set_celery_id(session, run.id, celery_id)
    run.celery_id = celery_id  # the row's other columns may have moved on in the worker
    return run
