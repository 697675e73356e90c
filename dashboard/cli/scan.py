"""`python run.py scan NAME`: a scan run in this process, recorded and published.

The run goes through the same state machine and chunk path as the worker's (services/scans
runs.py and chunks.py), one chunk after another: queued, running with its plan, each chunk
recorded and published, succeeded after the last; failed with the error if a chunk fails.
"""
from __future__ import annotations

from dashboard import events
from dashboard.db import Session, init_engine, write_transaction
from dashboard.models import utcnow
from dashboard.services.scans import plan
from dashboard.services.serialize import task_run_json

from ..services.scans import chunks
from ..services.scans import control as scan_control
from ..services.scans import runs as task_runs


def run_cli_scan(config, name: str) -> dict:
    """Run scan `name` now; returns the task run as JSON (with its counts)."""
    init_engine(config.DATABASE_URL)
    events.init_queue(config.SOCKETIO_MESSAGE_QUEUE, config.SOCKETIO_CHANNEL)
    session = Session()
    scan_control.check_name(name)
    run = task_runs.create_run(session, name, "cli",
                               stale_after=task_runs.stale_after(config.TASK_RUN_STALE_SECONDS))
    with write_transaction(session):
        ranges = plan(session, name, config.SCAN_CHUNK_SIZE)
        run = task_runs.start(session, run.id, chunks=ranges, scan_now=utcnow())
    events.publish_task_run(run)
    for first, last in ranges:
        try:
            chunks.run_chunk(session, run.id, name, first, last, tz=config.CELERY_TIMEZONE,
                             publisher=events)
        except Exception as exc:
            session.rollback()
            with write_transaction(session):
                failed = task_runs.fail(session, run.id, f"{type(exc).__name__}: {exc}")
            events.publish_task_run(failed)
            raise
    return task_run_json(task_runs.fresh(session, run.id))
