"""Sending tasks to the worker from the web app, always after the database commit, and what
the web does around a payment (pages and API alike): where a resident pays, and who is told
once the money is in."""
from __future__ import annotations

import logging

from celery import Celery
from flask import current_app, url_for

from . import events
from .db import Session
from .services import payments
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


def send(name: str, *, queue: str = QUEUE, countdown: float | None = None,
         options: dict | None = None, **kwargs) -> str:
    """Queue task `name` on `queue` (to run `countdown` seconds from now, when given; with
    Celery's message `options`, like headers); Unavailable (503) when the broker cannot be
    reached."""
    try:
        result = client().send_task(name, kwargs=kwargs, queue=queue, retry=True,
                                    retry_policy=RETRY_POLICY, countdown=countdown,
                                    **(options or {}))
        return result.id
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not queue %s: %s", name, exc)
        raise Unavailable("The task queue is unreachable; try again shortly.") from exc


#: The message header that asks a transaction's notice task (send_topup_notification,
#: send_purchase_notification in worker/tasks.py) to check the wallet as well, in the same
#: database transaction. The web sends one task per transaction with it; a notice task sent
#: without it (by the tests, or by hand) stores the notice only, and
#: check_wallet_after_transaction still checks a wallet on its own.
WALLET_CHECK_HEADER = "quantify_wallet_check"
#: One task per transaction, fire-and-forget: the notice and the wallet check, and no
#: result stored (nobody reads it: the web has no result backend).
FOLLOW_UP = {"headers": {WALLET_CHECK_HEADER: True}, "ignore_result": True}


def after_transaction(tx) -> bool:
    """Queue the real-time task of a committed transaction (its notice and the wallet check,
    one task); False when the broker is down.

    A failure here is not the caller's failure: the money moved, and the minute sweep does
    the task's work once the broker is back.
    """
    name = "send_topup_notification" if tx.type == "topup" else "send_purchase_notification"
    try:
        send(name, options=FOLLOW_UP, transaction_id=tx.id)
        return True
    except Unavailable:
        return False


def after_payment(result) -> None:
    """Everyone who should know about a committed top-up or purchase is told, once.

    `result` is the payment service's TransactionResult (None, or a replay of an earlier
    Idempotency-Key, tells nobody anything new): the real-time task is queued (the
    notification and the wallet's state check), the alerts the payment resolved are sent
    again so open inboxes show them resolved, and the wallet's new balance is published.
    The top-up and purchase routes of the pages and of the API all end here.
    """
    if result is None or not result.created:
        return
    after_transaction(result.transaction)
    events.publish_notifications(Session, result.resolved_ids, with_unread=False)
    events.publish_wallet(Session, result.transaction.wallet_id)


def require_checkout() -> None:
    """Unavailable (503) unless residents have somewhere to pay: the test gateway
    (development) or the provider's page (PAYMENT_CHECKOUT_URL)."""
    if not (current_app.config.get("PAYMENT_TEST_GATEWAY")
            or current_app.config.get("PAYMENT_CHECKOUT_URL")):
        raise Unavailable("Paying online is not set up yet. Ask your estate office how to "
                          "top up.", code="payments_unavailable")


def checkout_url(payment) -> str | None:
    """Where the resident pays `payment` (None once it is no longer pending): the test
    gateway's page in development, else PAYMENT_CHECKOUT_URL filled in, whose provider sends
    the resident back to their wallet page."""
    if payment.status != "pending":
        return None
    if current_app.config.get("PAYMENT_TEST_GATEWAY"):
        return url_for("gateway.page", payment_id=payment.id, _external=True)
    template = current_app.config.get("PAYMENT_CHECKOUT_URL")
    if not template:
        return None
    back = url_for("resident.wallet", wallet_id=payment.wallet_id, _external=True,
                   _anchor=f"payment-{payment.wallet_id}")
    try:
        return payments.checkout_url(template, payment, back)
    except (KeyError, IndexError, ValueError) as exc:
        log.error("PAYMENT_CHECKOUT_URL cannot be filled in: %s", exc)
        raise Unavailable("The payment page is not set up correctly; try again later.",
                          code="payments_unavailable") from exc


def after_settlement(settlement) -> None:
    """Tell everyone about a payment the provider's webhook settled: a success is a top-up
    like any other (after_payment), a decline refreshes the resident's payment card."""
    if not settlement.changed:
        return
    if settlement.credit is not None:
        after_payment(settlement.credit)
    else:
        events.publish_wallet(Session, settlement.payment.wallet_id)
