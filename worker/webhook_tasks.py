"""Webhook tasks on queue `deliveries`: the sweep that hands out due messages, the send of
one batch, and the daily pruning. Thin: ids in, a service call, publish after commit.

The schedule is in the database (each message's `next_attempt_at`), so nothing is lost when a
worker restarts or a task disappears: the next sweep (every 5 s, beat) finds what is due,
including messages whose task died holding them once their lease runs out.
"""
from __future__ import annotations

import logging

from celery import shared_task

from dashboard import events
from dashboard.models import utcnow
from dashboard.services import webhooks
from worker.celery_app import DELIVERIES_QUEUE
from worker.common import TRANSIENT, cfg, task_session

log = logging.getLogger(__name__)


@shared_task(name="sweep_webhooks", acks_late=True, autoretry_for=TRANSIENT, max_retries=2,
             track_started=False, ignore_result=True)
def sweep_webhooks() -> dict:
    """Disable endpoints failing for 24 h, fail what is past its 24 h, lease what is due and
    queue a send task per batch."""
    with task_session() as session:
        swept = webhooks.sweep(session, utcnow())
        if swept.notification_ids:
            events.publish_notifications(session, swept.notification_ids)
    for batch in swept.batches:
        queue_batch(batch)
    return {"expired": swept.expired, "batches": len(swept.batches),
            "disabled": len(swept.notification_ids)}


def queue_batch(batch: webhooks.Batch, *, resend: bool = False) -> None:
    """Send one batch's task (the web queues an operator's Resend the same way)."""
    send_webhooks.apply_async(kwargs={"endpoint_id": batch.endpoint_id,
                                      "message_ids": batch.message_ids, "token": batch.token,
                                      "resend": resend}, queue=DELIVERIES_QUEUE)


# A batch stops at its first failure, so it waits for at most `concurrency` timeouts at once.
@shared_task(name="send_webhooks", acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True,
             max_retries=5, soft_time_limit=300, time_limit=330, track_started=False)
def send_webhooks(endpoint_id: int, message_ids: list[int], token: str,
                  resend: bool = False) -> dict:
    """Sign and post one batch of an endpoint's messages; record every attempt."""
    config = cfg()
    with task_session() as session:
        result = webhooks.send_batch(session, endpoint_id, message_ids, token,
                                     policy=webhooks.policy_from(config),
                                     key=webhooks.sealing_key(config), resend=resend)
        if result.notification_ids:  # the endpoint was disabled: tell operators live
            events.publish_notifications(session, result.notification_ids)
    if result.disabled:
        log.warning("webhook endpoint %s disabled after 24 h of failures", endpoint_id)
    return {"delivered": len(result.delivered), "failed": len(result.failed),
            "skipped": len(result.skipped), "disabled": result.disabled}


@shared_task(name="prune_webhooks")
def prune_webhooks() -> dict:
    """Daily: delivered and failed messages older than NOTIFICATION_RETENTION_DAYS."""
    with task_session() as session:
        return {"pruned": webhooks.prune(session, utcnow(),
                                         days=cfg().NOTIFICATION_RETENTION_DAYS)}
