"""The real-time and housekeeping Celery tasks: thin wrappers that take ids, call a service,
commit, then publish. The scans are in worker/scan_tasks.py.

Every task is safe to run twice: alerts are claimed with conditional updates and every
notification has a unique de-duplication key, so retries and double delivery store nothing twice.
"""
from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy import select

from dashboard import events
from dashboard.db import write_transaction
from dashboard.dispatch import WALLET_CHECK_HEADER
from dashboard.models import TaskRun, utcnow
from dashboard.services import payments
from dashboard.services.accounts import sessions as login_sessions
from dashboard.services.forecast import sql as forecast_sql
from dashboard.services.notifications import retention
from dashboard.services.scans import credit_alerts
from dashboard.services.scans import runs as task_runs
from worker.common import TRANSIENT, cfg, task_session

log = logging.getLogger(__name__)


# -- real time ----------------------------------------------------------------------------

# No STARTED state in the result backend for these: they finish in milliseconds and nobody
# waits on them starting, so the extra Redis write per task buys nothing (task runs, not
# Celery states, are what the dashboard shows). The web queues them fire-and-forget
# (ignore_result in the message: no result written either); a sender that waits for one,
# like the tests or an operator's shell, still gets its result.
REALTIME = {"bind": True, "autoretry_for": TRANSIENT, "retry_backoff": True,
            "retry_backoff_max": 30, "max_retries": 8, "acks_late": True, "track_started": False}


@shared_task(name="send_topup_notification", **REALTIME)
def send_topup_notification(self, transaction_id: int):
    """The `topup_success` of one transaction (once, however often delivered); the wallet
    check too when the message asks for it, as the web's one task per transaction does."""
    return _follow_up(self, transaction_id)


@shared_task(name="send_purchase_notification", **REALTIME)
def send_purchase_notification(self, transaction_id: int):
    """The `purchase_success` of one transaction (once, however often delivered); the
    wallet check too when the message asks for it."""
    return _follow_up(self, transaction_id)


def _follow_up(task, transaction_id: int) -> dict:
    """Store a transaction's notice and, when its message carries WALLET_CHECK_HEADER, check
    its wallet, in one write transaction; then publish it all in one pipelined call."""
    # Celery hands a message's own headers to the task as request.headers (eager calls too).
    check = bool((task.request.headers or {}).get(WALLET_CHECK_HEADER))
    with task_session() as session:
        # Under the write lock from the start: the follow-up reads before it inserts, and on
        # SQLite a deferred transaction whose snapshot another writer had written past failed
        # with "database is locked" at once (a retry seconds later, not a wait).
        with write_transaction(session):
            done = payments.follow_up(session, transaction_id, utcnow(), check_wallet=check)
        events.publish_outcome(session, done.notification_ids,
                               [done.wallet_id] if done.wallet_changed else [])
        return {"notifications": done.notice_ids, "alerts": done.alert_ids}


@shared_task(name="check_wallet_after_transaction", **REALTIME)
def check_wallet_after_transaction(self, wallet_id: int, transaction_id: int | None = None):
    """Low or critical credit alert for one wallet right after a transaction (queued on its
    own by senders that do not ask the notice task for it)."""
    with task_session() as session:
        with write_transaction(session):  # see _follow_up
            passes = credit_alerts.check_wallet(session, wallet_id, utcnow(),
                                                tz=cfg().CELERY_TIMEZONE)
        ids = [i for p in passes.values() for i in p.notification_ids]
        events.publish_outcome(session, ids, [wallet_id])
        return {"notifications": ids}


# -- housekeeping -------------------------------------------------------------------------

@shared_task(name="reap_stale_task_runs")
def reap_stale_task_runs():
    """Mark runs whose worker died as failed."""
    with task_session() as session:
        with write_transaction(session):
            ids = task_runs.reap_stale(
                session, stale_after=task_runs.stale_after(cfg().TASK_RUN_STALE_SECONDS))
        for run in session.scalars(select(TaskRun).where(TaskRun.id.in_(ids))):
            events.publish_task_run(run)
        return {"failed": ids}


@shared_task(name="sweep_transaction_notifications", **REALTIME)
def sweep_transaction_notifications(self):
    """Do the real-time work (notice and wallet check) of transactions whose task never
    reached the broker."""
    with task_session() as session:
        with write_transaction(session):  # see _follow_up
            swept = payments.follow_up_missed(session, utcnow())
        events.publish_outcome(session, [*swept.notice_ids, *swept.alert_ids])
        return {"notifications": swept.notice_ids, "alerts": swept.alert_ids}


@shared_task(name="beat_probe")
def beat_probe():
    """No-op sent by beat every BEAT_PROBE_SECONDS when that is set (tests count it)."""
    return {"ok": True}


@shared_task(name="prune_old_data")
def prune_old_data():
    """Daily retention: notifications, task runs and sign-in sessions older than
    NOTIFICATION_RETENTION_DAYS."""
    days = cfg().NOTIFICATION_RETENTION_DAYS
    with task_session() as session:
        pruned = retention.prune(session, utcnow(), notification_days=days, task_run_days=days)
        sessions = login_sessions.prune(session, utcnow(), days=days)
        with write_transaction(session):
            spans = forecast_sql.prune_calendars(session, utcnow())
        return {**pruned.__dict__, "sessions": sessions, "calendar_spans": spans}


@shared_task(name="refresh_forecasts")
def refresh_forecasts():
    """Make again the run-out sort keys whose oldest purchase left the 30-day window (and
    those never made), in batches (services/forecast/sql.py)."""
    with task_session() as session:
        return {"refreshed": forecast_sql.refresh_forecasts(session, utcnow())}
