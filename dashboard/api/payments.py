"""A resident's payments: the provider's signed webhook that settles them, and reading one.

The webhook is authenticated by its Standard Webhooks signature alone: no session, no token
and no CSRF token (security.py lets it through unchecked, and this view never looks at who
is signed in, so a browser session is no substitute for the signature).
"""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from .. import dispatch
from ..db import Session
from ..models import utcnow
from ..services import payments
from ..services.errors import Unavailable
from ..services.ids import MAX_ID
from ..services.serialize import payment_json
from .helpers import Unauthorized, signed_in
from .schemas import AMOUNT_IN, TIME, enum, ref
from .spec import MAX_BODY_BYTES, Body, Field, PayloadTooLarge, header, route

WEBHOOK_BODY = Body(
    type=Field(enum(payments.EVENTS), required=True),
    timestamp=Field({**TIME, "description": "When the provider made the event (not checked: "
                                            "the signed webhook-timestamp header is)."}),
    data=Field({"type": "object", "required": ["payment_id", "amount", "provider_ref"],
                "additionalProperties": False, "properties": {
                    "payment_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    "amount": {**AMOUNT_IN, "description": "Must be the payment's amount."},
                    "provider_ref": {"type": "string",
                                     "pattern": payments.webhook.PROVIDER_REF_PATTERN}}},
               required=True))
SIGNATURE_HEADERS = [
    header("webhook-id", {"type": "string", "minLength": 1,
                          "maxLength": payments.webhook.WEBHOOK_ID_LENGTH},
           "The message's id (the same for each retry of it)."),
    header("webhook-timestamp", {"type": "string", "pattern": "^[0-9]{1,12}$"},
           "Seconds since 1970 when it was signed; more than five minutes off is refused."),
    header("webhook-signature", {"type": "string", "minLength": 1},
           "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with PAYMENT_WEBHOOK_SECRET "
           "(several, space-separated, while a secret is being rotated)."),
]


def payment_payload(payment) -> dict:
    """A payment with the page where it can still be paid."""
    try:
        url = dispatch.checkout_url(payment)
    except Unavailable:  # a misconfigured provider page must not hide the payment itself
        url = None
    return payment_json(payment, url)


@route("POST", "/payments/webhook", summary="The payment provider confirms or declines a "
       "payment", body=WEBHOOK_BODY, params=SIGNATURE_HEADERS, public=True,
       answers={200: (ref("PaymentResult"), "Settled now, or a repeat that changed nothing")},
       refusals=(401, 404, 409),
       description="Signed per Standard Webhooks with PAYMENT_WEBHOOK_SECRET: the signature "
                   "is the authentication (no session, token or CSRF token). "
                   "`payment.succeeded` credits the wallet exactly once; `payment.failed` "
                   "credits nothing; a repeat for a settled payment answers 200 and changes "
                   "nothing. 401: missing or wrong signature, or a timestamp more than five "
                   "minutes off; 404: no such payment; 422: the amount is not the payment's; "
                   "409: the payment expired (nothing is credited).")
def payment_webhook():
    """Verify the signature over the raw body, then settle the payment it names."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    try:
        webhook_id = payments.verify(current_app.config["PAYMENT_WEBHOOK_SECRET"],
                                     request.get_data(cache=True), request.headers)
    except payments.InvalidSignature as exc:
        raise Unauthorized(exc.message, code=exc.code) from None
    event = payments.parse_event(WEBHOOK_BODY.read())
    settlement = payments.settle(Session, event, webhook_id=webhook_id, now=utcnow())
    dispatch.after_settlement(settlement)
    return jsonify(payment=payment_payload(settlement.payment))


@route("GET", "/payments/{payment_id}", summary="One payment", answers={200: ref("Payment")},
       description="A resident sees the payments they started (anyone else's is 404); staff "
                   "see every payment. A pending payment past its 30 minutes reads `expired`.")
@signed_in
def get_payment(payment_id: int):
    """One payment, its status settled lazily when its time to pay is up."""
    payment = payments.get_payment(Session, current_user, payment_id, now=utcnow())
    return jsonify(payment_payload(payment))

