"""Task runs: the history of every scan run, its progress and its result."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from config import Config

from ...db import write_transaction
from ...models import ACTIVE_STATES, TaskRun, utcnow
from ..errors import Conflict

# A running scan writes a heartbeat with every chunk; silence this long means its worker died
# (TASK_RUN_STALE_SECONDS, 10 minutes by default; tests of a killed worker use seconds).
STALE_AFTER = timedelta(seconds=Config.TASK_RUN_STALE_SECONDS)


def active_run(session, task: str) -> TaskRun | None:
    """The queued or running run of `task`, if any."""
    return session.scalars(select(TaskRun).where(TaskRun.task == task,
                                                 TaskRun.state.in_(ACTIVE_STATES))
                           .order_by(TaskRun.id.desc()).limit(1)).first()


def create_run(session, task: str, trigger: str, *, user=None) -> TaskRun:
    """Record (and commit) a queued run. Refused (409) while the same scan is active.

    The check and the insert are one write transaction, begun under SQLite's write lock: in a
    deferred transaction the SELECTs took a snapshot, and when a scan chunk committed before
    the INSERT, SQLite refused the upgrade at once ("database is locked", a 503 for Run now)
    instead of waiting; and two Run now clicks could both pass the check.
    """
    try:
        with write_transaction(session):
            reap_stale(session)
            _refuse_if_active(session, task)
            run = TaskRun(task=task, trigger=trigger, state="queued", queued_at=utcnow(),
                          requested_by_id=getattr(user, "id", None),
                          requested_by=getattr(user, "email", None) or trigger)
            session.add(run)
            session.flush()
    except IntegrityError:
        # The one-active-run index: another process started this scan a moment ago.
        _refuse_if_active(session, task)
        raise
    return run


def _refuse_if_active(session, task: str) -> None:
    """409 naming the active run of `task`, if there is one."""
    current = active_run(session, task)
    if current is not None:
        raise Conflict(f"{task} is already {current.state} (run {current.id}).",
                       code="scan_running", fields={"task_run_id": str(current.id)})


def start(session, run: TaskRun, total: int) -> None:
    """The worker picked the run up."""
    now = utcnow()
    run.state = "running"
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.attempts += 1
    run.progress_total = total
    run.progress_done = 0
    run.error = None


def progress(run: TaskRun, done: int, scanned: int, notified: int, skipped: int) -> None:
    """Advance the run's counters (the caller commits and publishes)."""
    run.progress_done = done
    run.scanned, run.notified, run.skipped = scanned, notified, skipped
    run.heartbeat_at = utcnow()


def finish(run: TaskRun) -> None:
    """The run succeeded."""
    run.state = "succeeded"
    run.progress_done = run.progress_total
    run.finished_at = utcnow()


def fail(run: TaskRun, error: str, *, retrying: bool = False) -> None:
    """The run failed, or failed this attempt and will be retried."""
    run.state = "retrying" if retrying else "failed"
    run.error = error[:2000]
    if not retrying:
        run.finished_at = utcnow()


def reap_stale(session, now: datetime | None = None) -> list[int]:
    """Mark runs whose worker went silent as failed, so none stays `running` forever."""
    now = now or utcnow()
    cutoff = now - STALE_AFTER
    stale = or_(TaskRun.heartbeat_at < cutoff,
                (TaskRun.heartbeat_at.is_(None)) & (TaskRun.queued_at < now - timedelta(hours=1)))
    ids = list(session.scalars(select(TaskRun.id).where(TaskRun.state.in_(ACTIVE_STATES), stale)))
    if ids:
        session.execute(update(TaskRun).where(TaskRun.id.in_(ids)).values(
            state="failed", finished_at=now,
            error="The worker stopped reporting progress (lost or killed); run the scan again."))
    return ids
