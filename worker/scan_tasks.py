"""Scans on the worker: a coordinator per scan fans its id range out to chunk subtasks.

The coordinator (the task named after the scan: `check_low_credit_wallets`, ...) records the
run's plan and queues one `scan_chunk` per id range. Any worker on any host takes chunks, so
more workers finish a large scan sooner. Each chunk commits its notifications, a row in
`task_run_chunks` and the run's counters in one transaction: a chunk delivered twice finds
its row and does nothing, so counts and notifications are never doubled. The chunk that
completes the plan marks the run succeeded. At most one run of a scan is active at a time
(a partial unique index on task_runs), so a scheduled scan arriving while the same scan runs
is skipped, and Run now gets a 409.
"""
from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from dashboard import events
from dashboard.db import write_transaction
from dashboard.models import ACTIVE_STATES, TaskRun, TaskRunChunk, utcnow
from dashboard.services import scans
from dashboard.services.errors import Conflict
from dashboard.services.scans import runs as task_runs
from worker.celery_app import QUEUE
from worker.common import TRANSIENT, cfg, task_session

log = logging.getLogger(__name__)


def start_scan(task, name: str, task_run_id: int | None, trigger: str) -> dict:
    """Plan the run (making it, for scheduled runs) and queue its chunks."""
    with task_session() as session:
        if task_run_id is None:
            try:
                run = task_runs.create_run(session, name, trigger)
            except Conflict as exc:
                log.info("%s not started: %s", name, exc.message)
                return {"skipped": exc.message}
        else:
            run = session.get(TaskRun, task_run_id)
        if run is None or run.state not in ACTIVE_STATES or run.chunks_total:
            # Finished, or a redelivery of a coordinator that already queued its chunks.
            return {"task_run_id": getattr(run, "id", None), "state": getattr(run, "state", None)}
        with write_transaction(session):
            run = session.get(TaskRun, run.id, populate_existing=True)
            chunks = scans.plan(session, name, cfg().SCAN_CHUNK_SIZE)
            task_runs.start(session, run, total=sum(last - first + 1 for first, last in chunks))
            run.scan_now = utcnow()
            run.chunks_total = len(chunks)
            run.celery_id = task.request.id
            if not chunks:
                task_runs.finish(run)
        events.publish_task_run(run)
        for first, last in chunks:
            scan_chunk.apply_async(kwargs={"task_run_id": run.id, "name": name, "first": first,
                                           "last": last}, queue=QUEUE)
        return {"task_run_id": run.id, "chunks": len(chunks)}


@shared_task(name="scan_chunk", bind=True, acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=True, retry_backoff_max=30, max_retries=8, soft_time_limit=600,
             time_limit=660)
def scan_chunk(self, task_run_id: int, name: str, first: int, last: int) -> dict:
    """One id range of a run: notify, record the chunk and the counts, finish the run last."""
    with task_session() as session:
        run = session.get(TaskRun, task_run_id)
        if run is None or run.state != "running":
            return {"skipped": "the run is not running"}
        try:
            with write_transaction(session):
                chunk = TaskRunChunk(task_run_id=task_run_id, first_id=first, last_id=last)
                session.add(chunk)
                session.flush()  # a chunk done before: IntegrityError, nothing else happens
                result = scans.scan_chunk(session, name, first, last, now=run.scan_now,
                                          task_run_id=task_run_id, tz=cfg().CELERY_TIMEZONE)
                chunk.scanned, chunk.notified, chunk.skipped = (
                    result.scanned, result.notified, result.skipped)
                session.execute(update(TaskRun).where(TaskRun.id == task_run_id).values(
                    progress_done=TaskRun.progress_done + (last - first + 1),
                    scanned=TaskRun.scanned + result.scanned,
                    notified=TaskRun.notified + result.notified,
                    skipped=TaskRun.skipped + result.skipped,
                    chunks_done=TaskRun.chunks_done + 1, heartbeat_at=utcnow()))
        except IntegrityError:
            session.rollback()
            return {"duplicate": True}
        except TRANSIENT:
            raise  # retried with backoff; the rolled-back chunk is redone in full
        except (Exception, SoftTimeLimitExceeded) as exc:
            session.rollback()
            _fail(session, task_run_id, f"{type(exc).__name__}: {exc}")
            raise
        events.publish_notifications(session, result.notification_ids)
        _finish_if_complete(session, task_run_id)
        return {"task_run_id": task_run_id, "first": first, **result.counts()}


def _finish_if_complete(session, task_run_id: int) -> None:
    """Mark the run succeeded once every chunk is in (only one chunk's update can do it)."""
    now = utcnow()
    with write_transaction(session):
        session.execute(update(TaskRun).where(
            TaskRun.id == task_run_id, TaskRun.state == "running",
            TaskRun.chunks_done >= TaskRun.chunks_total).values(
            state="succeeded", finished_at=now, progress_done=TaskRun.progress_total))
    events.publish_task_run(session.get(TaskRun, task_run_id, populate_existing=True))


def _fail(session, task_run_id: int, error: str) -> None:
    """Mark a running run failed and say so."""
    with write_transaction(session):
        session.execute(update(TaskRun).where(TaskRun.id == task_run_id,
                                              TaskRun.state.in_(ACTIVE_STATES))
                        .values(state="failed", error=error[:2000], finished_at=utcnow()))
    events.publish_task_run(session.get(TaskRun, task_run_id, populate_existing=True))


def _scan_task(name: str):
    """Declare the coordinator task of scan `name`."""

    @shared_task(name=name, bind=True, acks_late=True, autoretry_for=TRANSIENT,
                 retry_backoff=True, max_retries=5)
    def coordinator(self, task_run_id: int | None = None, trigger: str = "schedule"):
        """Start the scan (see the module docstring)."""
        return start_scan(self, name, task_run_id, trigger)

    return coordinator


check_low_credit_wallets = _scan_task("check_low_credit_wallets")
check_critical_credit_wallets = _scan_task("check_critical_credit_wallets")
analyze_high_usage = _scan_task("analyze_high_usage")
