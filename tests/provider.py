"""The payment provider's side, for tests: webhook bodies signed as a provider signs them."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime

from config import DEV_PAYMENT_WEBHOOK_SECRET
from dashboard.models import utcnow
from dashboard.services import payments

#: The secret the test apps and the stack verify with (TestingConfig's default).
SECRET = DEV_PAYMENT_WEBHOOK_SECRET
#: A well-formed secret that is not ours (a forger's guess).
OTHER_SECRET = "whsec_" + base64.b64encode(b"an attacker guessing at the secret!").decode()
WEBHOOK = "/api/v1/payments/webhook"


def signed(payment_id: int, amount, event: str = "payment.succeeded", *,
           secret: str = SECRET, msg_id: str | None = None, when: datetime | None = None,
           provider_ref: str | None = None) -> tuple[bytes, dict]:
    """(body, headers) of one webhook message, signed with `secret` at `when` (now)."""
    when = when or utcnow()
    body = payments.event_body(event, payment_id, amount,
                               provider_ref or f"prov_{uuid.uuid4().hex[:12]}", when)
    headers = payments.sign(secret, body, msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
                            timestamp=when)
    return body, {**headers, "Content-Type": "application/json"}


def post(client, body: bytes, headers: dict, **kw):
    """POST a webhook message with a Flask test client."""
    return client.post(WEBHOOK, data=body, headers=headers, **kw)


def fresh_secret() -> str:
    """A new random `whsec_...` secret, as a provider issues one (production needs its own)."""
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
