"""The operators' webhook registration form: a URL and the events it wants."""
from __future__ import annotations

from wtforms import SelectMultipleField, StringField

from ...models import WEBHOOK_EVENTS
from .base import Form, strip

#: What each event means, in the page's words.
EVENT_LABELS = {"notification.created": "Every new notification",
                "wallet.state_changed": "A wallet's state changes (ok, low, critical)",
                "task_run.finished": "A scan run finishes (succeeded or failed)"}
assert set(EVENT_LABELS) == set(WEBHOOK_EVENTS), "every event needs a label"


class WebhookForm(Form):
    """Register an endpoint; the service checks both fields and names what is wrong."""

    url = StringField(filters=[strip])
    events = SelectMultipleField(choices=dict(EVENT_LABELS), validate_choice=False)
