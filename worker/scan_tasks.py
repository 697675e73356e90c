"""Scans on the worker: a coordinator per scan of the catalogue fans its id range out to chunk
tasks, and a finishing task answers with the run's result.

The coordinator (the task named after the scan) records the run's plan and replaces itself
(`Task.replace`) by a chord: one `scan_chunk` per id range, then `finish_scan`, which inherits
the coordinator's task id. So `<scan>.delay().get()` returns the finished run's result (its
state and counts) while no worker slot waits for the chunks. Any worker on any host takes
chunks, so more workers finish a large scan sooner.

Each chunk goes through dashboard/services/scans/chunks.py and the run state machine
(runs.py): its notifications, its row in task_run_chunks and the run's counters in one
transaction, then the publish, after which the run counts it as published; the last chunk
published succeeds the run. A chunk delivered twice finds its row and does nothing. The run's
own accounting is the truth: a chord callback fired early (a duplicate delivery counted in
the chord before the original finished publishing) waits, retrying, until the run is final.
A transient error (a busy database) makes the run `retrying` until the chunk is redone.

At most one run of a scan is active at a time (a partial unique index on task_runs), so a
scheduled scan arriving while the same scan runs is skipped, and Run now gets a 409.
"""
from __future__ import annotations

import logging

from celery import chord, group, shared_task
from celery.exceptions import Ignore, SoftTimeLimitExceeded

from dashboard import events
from dashboard.db import write_transaction
from dashboard.models import utcnow
from dashboard.services import scans
from dashboard.services.errors import Conflict
from dashboard.services.scans import chunks
from dashboard.services.scans import runs as task_runs
from worker.celery_app import QUEUE
from worker.common import TRANSIENT, cfg, task_session

log = logging.getLogger(__name__)


def stale_after():
    """TASK_RUN_STALE_SECONDS of the worker's configuration."""
    return task_runs.stale_after(cfg().TASK_RUN_STALE_SECONDS)


def start_scan(task, name: str, task_run_id: int | None, trigger: str):
    """Plan the run (making it, for scheduled runs) and replace this task by its chord."""
    with task_session() as session:
        if task_run_id is None:
            try:
                run = task_runs.create_run(session, name, trigger, stale_after=stale_after())
            except Conflict as exc:
                log.info("%s not started: %s", name, exc.message)
                return {"skipped": exc.message}
        else:
            run = task_runs.fresh(session, task_run_id)
        if run is None:
            return {"skipped": f"no task run {task_run_id}"}
        if run.state in task_runs.FINAL_STATES:
            return task_runs.outcome(run)
        if run.chunks_total:
            # A redelivery of a coordinator that already replaced itself: the chord it sent
            # stores the result under this task id.
            raise Ignore()
        try:
            with write_transaction(session):
                plan = scans.plan(session, name, cfg().SCAN_CHUNK_SIZE)
                run = task_runs.start(session, run.id, chunks=plan, scan_now=utcnow(),
                                      celery_id=task.request.id)
        except task_runs.IllegalTransition:
            run = task_runs.fresh(session, run.id)
            if run.state in task_runs.FINAL_STATES:  # reaped or failed meanwhile
                return task_runs.outcome(run)
            raise Ignore() from None  # another delivery of this task started the run just now
        except TRANSIENT as exc:
            # Retried with the run's id, so a scheduled run is not made a second time.
            setback(task, session, run.id, exc, task_run_id=run.id, trigger=trigger)
        events.publish_task_run(run)
        if not plan:
            return task_runs.outcome(run)
        header = group(scan_chunk.si(task_run_id=run.id, name=name, first=first, last=last)
                       .set(queue=QUEUE) for first, last in plan)
        # `name` only labels the finishing task where people look (Flower lists kwargs).
        finish = finish_scan.si(task_run_id=run.id, name=name).set(queue=QUEUE)
        return task.replace(chord(header, finish))


def setback(task, session, run_id: int, exc: Exception, **retry_kwargs):
    """A transient error: the run is `retrying` and the task is retried with backoff; once
    its retries are used up, the run fails. Raises either way."""
    error = f"{type(exc).__name__}: {exc}"
    session.rollback()
    if task.request.retries >= task.max_retries:
        _record(session, task_runs.fail, run_id, error)
        raise exc
    _record(session, task_runs.retrying, run_id, error)
    kwargs = {**task.request.kwargs, **retry_kwargs} if retry_kwargs else None
    raise task.retry(exc=exc, kwargs=kwargs, countdown=min(2 ** task.request.retries, 30))


def _record(session, transition, run_id: int, error: str) -> None:
    """Apply `transition` (runs.retrying or runs.fail) and publish the run; best effort: the
    database may be what failed, and the task's own retry or failure must still happen."""
    try:
        with write_transaction(session):
            run = transition(session, run_id, error)
        events.publish_task_run(run)
    except task_runs.IllegalTransition as refused:
        log.info("run %s: %s", run_id, refused.message)
    except TRANSIENT as again:
        log.warning("run %s: could not record %s: %s", run_id, transition.__name__, again)


# autoretry_for covers a transient error outside the chunk's own handling (opening the
# session); inside it, `setback` records the retry on the run first.
@shared_task(name="scan_chunk", bind=True, acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=True, retry_backoff_max=30, max_retries=8, soft_time_limit=600,
             time_limit=660)
def scan_chunk(self, task_run_id: int, name: str, first: int, last: int) -> dict:
    """One id range of a run, exactly once: notify, record, publish (see chunks.py)."""
    with task_session() as session:
        try:
            return chunks.run_chunk(session, task_run_id, name, first, last,
                                    tz=cfg().CELERY_TIMEZONE, publisher=events)
        except TRANSIENT as exc:
            setback(self, session, task_run_id, exc)  # the rolled-back chunk is redone in full
        except (Exception, SoftTimeLimitExceeded) as exc:
            session.rollback()
            _record(session, task_runs.fail, task_run_id, f"{type(exc).__name__}: {exc}")
            raise


@shared_task(name="finish_scan", bind=True, acks_late=True, autoretry_for=TRANSIENT,
             max_retries=None)
def finish_scan(self, task_run_id: int, name: str | None = None) -> dict:
    """The chord's end: the run's result once it is final (succeeded or failed).

    Fired early (a chunk delivered twice counts in the chord before the other copy has
    published), it looks again shortly; a run whose worker went silent is reaped here as by
    the reaper, so this never waits forever.
    """
    with task_session() as session:
        run = task_runs.fresh(session, task_run_id)
        if run is not None and run.state not in task_runs.FINAL_STATES:
            with write_transaction(session):
                reaped = task_runs.reap_stale(session, stale_after=stale_after())
            for run_id in reaped:
                events.publish_task_run(task_runs.fresh(session, run_id))
            run = task_runs.fresh(session, task_run_id)
        if run is None:
            return {"skipped": f"no task run {task_run_id}"}
        if run.state not in task_runs.FINAL_STATES:
            raise self.retry(countdown=min(0.1 * 2 ** self.request.retries, 2.0))
        return task_runs.outcome(run)


def _scan_task(name: str):
    """Declare the coordinator task of scan `name`."""

    @shared_task(name=name, bind=True, acks_late=True, autoretry_for=TRANSIENT,
                 retry_backoff=True, max_retries=5)
    def coordinator(self, task_run_id: int | None = None, trigger: str = "schedule"):
        """Start the scan (see the module docstring)."""
        return start_scan(self, name, task_run_id, trigger)

    return coordinator


#: The coordinator task of every scan of the catalogue, by name (`TASKS[name].delay()`).
TASKS = {name: _scan_task(name) for name in scans.SCANS}
globals().update(TASKS)  # `from worker.scan_tasks import <scan name>` keeps working
