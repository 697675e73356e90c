"""Starting scans on demand and describing them: shared by the API, the pages and the CLI."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from worker.celery_app import beat_schedule

from ...models import TaskRun
from ..errors import NotFound
from . import runs as task_runs
from .catalogue import DESCRIPTIONS, next_run
from .passes import SCANS


@dataclass
class ScanInfo:
    """A scan as the dashboard shows it."""

    name: str
    schedule: str
    next_run_at: datetime
    last_run: TaskRun | None
    active_run: TaskRun | None


def check_name(name: str) -> str:
    """404 for anything that is not one of the three scans."""
    if name not in SCANS:
        raise NotFound(f"No scan named {name!r}.")
    return name


def describe(session, now: datetime, tz: str) -> list[ScanInfo]:
    """Every scan with its schedule, next run (local time), last and active run."""
    schedule = beat_schedule()
    infos = []
    for name in SCANS:
        last = session.scalars(select(TaskRun).where(TaskRun.task == name)
                               .order_by(TaskRun.id.desc()).limit(1)).first()
        infos.append(ScanInfo(name, DESCRIPTIONS[name],
                              next_run(schedule[name]["schedule"], now, tz), last,
                              task_runs.active_run(session, name)))
    return infos


def request_run(session, name: str, trigger: str, user, send) -> TaskRun:
    """Record a queued run and hand it to the worker (409 while that scan is active).

    `send(task_name, **kwargs)` queues the task; if the broker is down the run is marked
    failed with the reason, and the error propagates (a 503 for the web).
    """
    check_name(name)
    run = task_runs.create_run(session, name, trigger, user=user)
    session.commit()
    try:
        run.celery_id = send(name, task_run_id=run.id, trigger=trigger)
    except Exception as exc:
        task_runs.fail(run, f"Could not queue the scan: {exc}")
        session.commit()
        raise
    session.commit()
    return run
