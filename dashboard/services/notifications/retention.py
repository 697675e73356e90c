"""Retention: old notifications and task runs are pruned so the tables stay their working size."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from ...models import Notification, NotificationDelivery, TaskRun

BATCH = 5000  # rows per statement: short write locks, bounded memory


@dataclass
class Pruned:
    """How many rows went."""

    notifications: int = 0
    deliveries: int = 0
    task_runs: int = 0


def prune(session, now: datetime, *, notification_days: int = 90, task_run_days: int = 90
          ) -> Pruned:
    """Delete notifications (with their deliveries) and finished task runs older than the
    cut-offs, in batches, committing after each. Runs still referenced by a kept notification
    stay, so a notification's "made by run N" link never dangles."""
    result = Pruned()
    cutoff = now - timedelta(days=notification_days)
    while True:
        ids = list(session.scalars(select(Notification.id).where(Notification.created_at < cutoff)
                                   .order_by(Notification.id).limit(BATCH)))
        if not ids:
            break
        result.deliveries += session.execute(delete(NotificationDelivery).where(
            NotificationDelivery.notification_id.in_(ids))).rowcount or 0
        result.notifications += session.execute(delete(Notification).where(
            Notification.id.in_(ids))).rowcount or 0
        session.commit()
    run_cutoff = now - timedelta(days=task_run_days)
    referenced = exists(select(Notification.id).where(Notification.task_run_id == TaskRun.id))
    while True:
        ids = list(session.scalars(select(TaskRun.id).where(
            TaskRun.queued_at < run_cutoff, TaskRun.state.in_(("succeeded", "failed")),
            ~referenced).limit(BATCH)))
        if not ids:
            break
        result.task_runs += session.execute(delete(TaskRun).where(TaskRun.id.in_(ids))).rowcount or 0
        session.commit()
    return result
