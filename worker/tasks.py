"""The Celery tasks: thin wrappers that take ids, call a service, record the run, publish.

Every task is safe to run twice: scans claim alerts with conditional updates and every
notification has a unique de-duplication key, so retries and double delivery store nothing twice.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import redis
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from dashboard import events
from dashboard.db import Session, write_transaction
from dashboard.models import ACTIVE_STATES, TaskRun, Wallet, utcnow
from dashboard.services import credit_alerts, retention, task_runs
from dashboard.services.scans import SCANS, run_scan
from dashboard.services.transaction_notices import notify_transaction
from dashboard.services.transactions_sweep import unnotified_transactions
from worker.celery_app import celery
from worker.context import init_worker_context

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, redis.ConnectionError, redis.TimeoutError)
LOCK_TTL = 120  # seconds; renewed with every chunk, so only a dead worker lets it lapse


def _cfg():
    """The configuration the Celery app was built with."""
    return celery.conf.quantify_config


@contextmanager
def task_session():
    """A session for one task run, always closed afterwards."""
    init_worker_context(_cfg())
    session = Session()
    try:
        yield session
    finally:
        Session.remove()


def _redis() -> redis.Redis:
    """Redis for the scan locks."""
    return redis.Redis.from_url(_cfg().REDIS_URL, socket_timeout=5)


# -- scans --------------------------------------------------------------------------------

def _scan(task, name: str, task_run_id: int | None, trigger: str):
    """Run scan `name` for a task run (made here for scheduled runs), publishing progress."""
    with task_session() as session:
        run = session.get(TaskRun, task_run_id) if task_run_id else None
        if run is None:
            run = task_runs.create_run(session, name, trigger, refuse_if_active=False)
            session.commit()
        elif run.state not in ACTIVE_STATES:
            return {"task_run_id": run.id, "state": run.state}  # a redelivery of a finished run
        # End the read snapshot: the run's next write must start a transaction of its own, or
        # on SQLite it can fail at once with "database is locked" (outside the retry below).
        session.commit()
        run.celery_id = task.request.id
        # One scan of a kind at a time, across every worker: a second waits in the queue.
        lock = _redis().lock(f"{_cfg().SOCKETIO_CHANNEL}:scan-lock:{name}", timeout=LOCK_TTL)
        if not lock.acquire(blocking=False):
            run.state = "queued"
            session.commit()
            events.publish_task_run(run)
            raise task.retry(countdown=5, max_retries=120,
                             kwargs={"task_run_id": run.id, "trigger": run.trigger})
        try:
            return _run_locked(session, run, name, lock)
        except TRANSIENT as exc:
            session.rollback()
            retrying = task.request.retries < task.max_retries
            task_runs.fail(run, f"{type(exc).__name__}: {exc}", retrying=retrying)
            session.commit()
            events.publish_task_run(run)
            if retrying:
                raise task.retry(exc=exc, countdown=2 ** task.request.retries,
                                 kwargs={"task_run_id": run.id, "trigger": run.trigger})
            raise
        except (Exception, SoftTimeLimitExceeded) as exc:
            session.rollback()
            task_runs.fail(run, f"{type(exc).__name__}: {exc}")
            session.commit()
            events.publish_task_run(run)
            raise
        finally:
            try:
                lock.release()
            except redis.RedisError:
                pass  # expired or Redis gone: it lapses by itself


def _run_locked(session, run: TaskRun, name: str, lock) -> dict:
    """The body of a scan once its lock is held."""
    task_runs.start(session, run, total=0)
    session.commit()
    events.publish_task_run(run)
    published = 0

    def progress(done: int, total: int, result) -> None:
        """After each committed chunk: counters, heartbeat, lock renewal, live events."""
        nonlocal published
        run.progress_total = total
        task_runs.progress(run, done, result.scanned, result.notified, result.skipped)
        session.commit()
        lock.extend(LOCK_TTL, replace_ttl=True)
        events.publish_task_run(run)
        events.publish_notifications(session, result.notification_ids[published:])
        published = len(result.notification_ids)

    result = run_scan(session, name, now=utcnow(), task_run_id=run.id, progress=progress,
                      chunk_size=_cfg().SCAN_CHUNK_SIZE, tz=_cfg().CELERY_TIMEZONE)
    task_runs.progress(run, run.progress_total, result.scanned, result.notified, result.skipped)
    task_runs.finish(run)
    session.commit()
    events.publish_task_run(run)
    return {"task_run_id": run.id, **result.counts()}


def _scan_task(name: str):
    """Declare the Celery task of scan `name`."""

    @shared_task(name=name, bind=True, max_retries=5, acks_late=True)
    def scan(self, task_run_id: int | None = None, trigger: str = "schedule"):
        """Run the scan (see dashboard.services.scans)."""
        return _scan(self, name, task_run_id, trigger)

    return scan


check_low_credit_wallets = _scan_task("check_low_credit_wallets")
check_critical_credit_wallets = _scan_task("check_critical_credit_wallets")
analyze_high_usage = _scan_task("analyze_high_usage")
assert set(SCANS) == {"check_low_credit_wallets", "check_critical_credit_wallets",
                      "analyze_high_usage"}


# -- real time ----------------------------------------------------------------------------

REALTIME = {"bind": True, "autoretry_for": TRANSIENT, "retry_backoff": True,
            "retry_backoff_max": 30, "max_retries": 8, "acks_late": True}


@shared_task(name="send_topup_notification", **REALTIME)
def send_topup_notification(self, transaction_id: int):
    """The `topup_success` of one transaction (once, however often delivered)."""
    return _notify_transaction(transaction_id)


@shared_task(name="send_purchase_notification", **REALTIME)
def send_purchase_notification(self, transaction_id: int):
    """The `purchase_success` of one transaction (once, however often delivered)."""
    return _notify_transaction(transaction_id)


def _notify_transaction(transaction_id: int) -> dict:
    """Store and publish a transaction's notification."""
    with task_session() as session:
        # Under the write lock from the start: notify_transaction reads before it inserts, and
        # on SQLite a deferred transaction whose snapshot the parallel wallet check had written
        # past failed with "database is locked" at once (a retry seconds later, not a wait).
        with write_transaction(session):
            ids = notify_transaction(session, transaction_id, utcnow())
        events.publish_notifications(session, ids)
        return {"notifications": ids}


@shared_task(name="check_wallet_after_transaction", **REALTIME)
def check_wallet_after_transaction(self, wallet_id: int, transaction_id: int | None = None):
    """Low or critical credit alert for one wallet right after a transaction."""
    with task_session() as session:
        with write_transaction(session):  # see _notify_transaction
            passes = credit_alerts.check_wallets(session, Wallet.__table__.c.id == wallet_id,
                                                 utcnow())
        ids = [i for p in passes.values() for i in p.notification_ids]
        events.publish_notifications(session, ids)
        events.publish_wallet(session, wallet_id)
        return {"notifications": ids}


# -- housekeeping -------------------------------------------------------------------------

@shared_task(name="reap_stale_task_runs")
def reap_stale_task_runs():
    """Mark runs whose worker died as failed."""
    with task_session() as session:
        ids = task_runs.reap_stale(session)
        session.commit()
        for run in session.scalars(select(TaskRun).where(TaskRun.id.in_(ids))):
            events.publish_task_run(run)
        return {"failed": ids}


@shared_task(name="sweep_transaction_notifications", **REALTIME)
def sweep_transaction_notifications(self):
    """Send the notifications of transactions whose task never reached the broker."""
    with task_session() as session:
        created = []
        with write_transaction(session):  # see _notify_transaction
            for tx_id in unnotified_transactions(session, utcnow()):
                created.extend(notify_transaction(session, tx_id, utcnow()))
        events.publish_notifications(session, created)
        return {"notifications": created}


@shared_task(name="prune_old_data")
def prune_old_data():
    """Daily retention: notifications and task runs older than NOTIFICATION_RETENTION_DAYS."""
    days = _cfg().NOTIFICATION_RETENTION_DAYS
    with task_session() as session:
        pruned = retention.prune(session, utcnow(), notification_days=days, task_run_days=days)
        return pruned.__dict__
