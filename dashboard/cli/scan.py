"""`python run.py scan NAME`: a scan run in this process, recorded and published."""
from __future__ import annotations

from dashboard import events
from dashboard.db import Session, init_engine
from dashboard.models import utcnow
from dashboard.services.scans import run_scan
from dashboard.services.serialize import task_run_json

from ..services.scans import control as scan_control
from ..services.scans import runs as task_runs


def run_cli_scan(config, name: str) -> dict:
    """Run scan `name` now; returns the task run as JSON (with its counts)."""
    from flask_socketio import SocketIO

    init_engine(config.DATABASE_URL)
    events.init(SocketIO(message_queue=config.SOCKETIO_MESSAGE_QUEUE,
                         channel=config.SOCKETIO_CHANNEL))
    session = Session()
    scan_control.check_name(name)
    run = task_runs.create_run(session, name, "cli")
    task_runs.start(session, run, total=0)
    session.commit()
    try:
        result = run_scan(session, name, now=utcnow(), task_run_id=run.id,
                          chunk_size=config.SCAN_CHUNK_SIZE, tz=config.CELERY_TIMEZONE,
                          progress=lambda done, total, r: _progress(session, run, done, total, r))
    except Exception as exc:
        session.rollback()
        task_runs.fail(run, f"{type(exc).__name__}: {exc}")
        session.commit()
        raise
    task_runs.progress(run, run.progress_total, result.scanned, result.notified, result.skipped)
    task_runs.finish(run)
    session.commit()
    events.publish_task_run(run)
    events.publish_notifications(session, result.notification_ids)
    return task_run_json(run)


def _progress(session, run, done, total, result) -> None:
    """Record progress after each chunk."""
    run.progress_total = total
    task_runs.progress(run, done, result.scanned, result.notified, result.skipped)
    session.commit()
    events.publish_task_run(run)
