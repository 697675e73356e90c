"""The test payment gateway (development and tests only): plays the payment provider.

A resident's Top up sends them here (the payment's redirect_url). The page shows the amount
with "Pay" and "Decline"; either sends the provider's signed webhook to our own webhook
endpoint, exactly as a real provider would: an HTTP POST signed with PAYMENT_WEBHOOK_SECRET.
It is a Celery task (worker/payment_tasks.py) that posts it, a moment after the resident is
sent back to their wallet page: a provider's server calls back on its own, from outside this
request, and the resident watches the payment card go from "waiting for your bank" to
settled, with the top-up toast, as they will in production. The web request never calls its
own server (which would deadlock a single-threaded one).

Never in production: create_app registers this blueprint only when PAYMENT_TEST_GATEWAY is
on, production refuses to start with it on (config.ProductionConfig.validate), and
register() refuses a production app outright.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import dispatch
from ..db import Session
from ..models import utcnow
from ..routing import ID_CONVERTER
from ..services import payments
from ..services.money import format_rand
from .access import resident_required
from .forms import GatewayForm
from .resident_forms import payment_message

bp = Blueprint("gateway", __name__, url_prefix="/dev/gateway")
#: Seconds between the resident leaving the gateway and the webhook arriving, as a provider's
#: callback comes a moment after its redirect (so the wallet page shows the wait, then the
#: result arriving live).
CALLBACK_DELAY = 2.0
EVENTS = {"pay": "payment.succeeded", "decline": "payment.failed"}


def register(app) -> None:
    """Add the gateway to a development or test app; refuse a production one."""
    if app.config.get("ENV_NAME") == "production":
        raise RuntimeError("The test payment gateway is never enabled in production.")
    app.register_blueprint(bp)


def _back(payment):
    """The resident's wallet page, at the payment card."""
    return redirect(url_for("resident.wallet", wallet_id=payment.wallet_id,
                            _anchor=f"payment-{payment.wallet_id}"), 303)


@bp.get(f"/<{ID_CONVERTER}:payment_id>")
@resident_required
def page(payment_id: int):
    """The provider's page for one of the resident's payments (404 for anyone else's)."""
    payment = payments.get_payment(Session, current_user, payment_id, now=utcnow())
    return render_template("gateway/page.html", payment=payment, form=GatewayForm(),
                           status_text=payment_message(payment))


@bp.post(f"/<{ID_CONVERTER}:payment_id>")
@resident_required
def decide(payment_id: int):
    """Pay or Decline: queue the signed webhook the provider would send, and go back."""
    payment = payments.get_payment(Session, current_user, payment_id, now=utcnow())
    form = GatewayForm(request.form)
    if not form.validate():
        return render_template("gateway/page.html", payment=payment, form=form,
                               status_text=payment_message(payment)), 422
    if payment.status != "pending":
        flash(payment_message(payment), "info")
        return _back(payment)
    dispatch.send("deliver_test_gateway_webhook", countdown=CALLBACK_DELAY,
                  payment_id=payment.id, event=EVENTS[form.outcome.data],
                  webhook_url=url_for("api.payment_webhook", _external=True),
                  webhook_id=f"msg_{uuid.uuid4().hex}",
                  provider_ref=f"testgw_{uuid.uuid4().hex[:16]}")
    if form.outcome.data == "decline":
        flash(f"You declined the payment of {format_rand(payment.amount)}.", "info")
    return _back(payment)
