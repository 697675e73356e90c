"""Sending tasks to the worker from the web app, always after the database commit, and what
the web does once a payment is in (pages and API alike)."""
from __future__ import annotations

import logging

from celery import Celery
from flask import current_app

from . import events
from .db import Session
from .services.errors import Unavailable

log = logging.getLogger(__name__)
QUEUE = "notifications"
_clients: dict[str, Celery] = {}
# Fail fast when the broker is down: the request must answer, and the sweep task recovers
# real-time notifications whose task never left.
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def client() -> Celery:
    """A send-only Celery app on this web app's broker."""
    url = current_app.config["CELERY_BROKER_URL"]
    app = _clients.get(url)
    if app is None:
        # No result backend: the web never waits for results, and the Redis result backend
        # would subscribe to a channel per task sent. Set on the class attribute because
        # Celery prefers the CELERY_RESULT_BACKEND environment variable to its `backend`
        # argument: with it set, every send_task subscribed for the result, and while Redis
        # was down retried that for 20 s, so top-ups and Run now hung instead of answering
        # (tests/test_faults.py::test_redis_down_10s_during_top_ups_loses_and_doubles_nothing).
        app = Celery("quantify-web", broker=url)
        app.backend_cls = "disabled"
        app.conf.broker_connection_retry_on_startup = False
        app.conf.broker_connection_max_retries = 1
        _clients[url] = app
    return app


def send(name: str, queue: str = QUEUE, **kwargs) -> str:
    """Queue task `name` (on `queue`); Unavailable (503) when the broker cannot be reached."""
    try:
        result = client().send_task(name, kwargs=kwargs, queue=queue, retry=True,
                                    retry_policy=RETRY_POLICY)
        return result.id
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not queue %s: %s", name, exc)
        raise Unavailable("The task queue is unreachable; try again shortly.") from exc


def after_transaction(tx) -> bool:
    """Queue the real-time tasks of a committed transaction; False when the broker is down.

    A failure here is not the caller's failure: the money moved, and the minute sweep sends
    the notification once the broker is back.
    """
    name = "send_topup_notification" if tx.type == "topup" else "send_purchase_notification"
    try:
        send(name, transaction_id=tx.id)
        send("check_wallet_after_transaction", wallet_id=tx.wallet_id, transaction_id=tx.id)
        return True
    except Unavailable:
        return False


def after_payment(result) -> None:
    """Everyone who should know about a committed top-up or purchase is told, once.

    `result` is the payment service's TransactionResult (None, or a replay of an earlier
    Idempotency-Key, tells nobody anything new): the real-time tasks are queued (the
    notification and the wallet's state check), the alerts the payment resolved are sent
    again so open inboxes show them resolved, and the wallet's new balance is published.
    The top-up and purchase routes of the pages and of the API all end here.
    """
    if result is None or not result.created:
        return
    after_transaction(result.transaction)
    events.publish_notifications(Session, result.resolved_ids, with_unread=False)
    events.publish_wallet(Session, result.transaction.wallet_id)
