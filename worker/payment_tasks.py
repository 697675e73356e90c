"""Payment tasks: the minute sweep that expires unpaid payments, and the test gateway's
webhook (development and tests only), posted as the payment provider would post it."""
from __future__ import annotations

import logging

import requests
from celery import shared_task

from dashboard import events
from dashboard.models import Payment, utcnow
from dashboard.services import payments
from worker.common import TRANSIENT, cfg, task_session

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT = 10  # seconds, as a provider waits for our answer


@shared_task(name="expire_payments", autoretry_for=TRANSIENT, retry_backoff=True,
             max_retries=5)
def expire_payments():
    """Mark pending payments past their 30 minutes expired; their wallets' pages refresh."""
    with task_session() as session:
        expired = payments.expire_due(session, utcnow())
        for wallet_id in sorted({wallet_id for _, wallet_id in expired}):
            events.publish_wallet(session, wallet_id)
        return {"expired": [payment_id for payment_id, _ in expired]}


@shared_task(name="deliver_test_gateway_webhook", bind=True,
             autoretry_for=(requests.ConnectionError, requests.Timeout), retry_backoff=True,
             max_retries=5)
def deliver_test_gateway_webhook(self, payment_id: int, event: str, webhook_url: str,
                                 webhook_id: str, provider_ref: str) -> dict:
    """POST the signed `event` for one payment to our webhook endpoint, signed when sent (a
    retry resends the same webhook-id, as a provider does). Refused unless the test gateway
    is on: production never signs a payment it did not receive."""
    config = cfg()
    if not config.PAYMENT_TEST_GATEWAY:
        log.error("test gateway webhook for payment %s refused: PAYMENT_TEST_GATEWAY is off",
                  payment_id)
        return {"sent": False}
    with task_session() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            return {"sent": False}
        now = utcnow()
        body = payments.event_body(event, payment.id, payment.amount, provider_ref, now)
    headers = payments.sign(config.PAYMENT_WEBHOOK_SECRET, body, msg_id=webhook_id,
                            timestamp=now)
    answer = requests.post(webhook_url, data=body, timeout=WEBHOOK_TIMEOUT,
                           headers={**headers, "Content-Type": "application/json"})
    if answer.status_code >= 500:
        raise self.retry(countdown=2)
    log.info("test gateway webhook %s for payment %s: %s", webhook_id, payment_id,
             answer.status_code)
    return {"sent": True, "status": answer.status_code}
