"""Disabling an endpoint that failed for 24 hours, and telling operators.

The operators' notice is a notification of the operator-only type `webhook_disabled`
(priority high), like DESIGN.md's `meter_silent` and `operator_digest`: it concerns no
wallet, so no resident receives it, and operators see it in the feed and the log as every
notification. Its key names the endpoint and the how-many-th disabling it is, so each
disabling tells operators exactly once.
"""
from __future__ import annotations

from datetime import datetime

from ...models import WebhookEndpoint
from .. import notifications

KIND = "webhook_disabled"
TITLE = "A webhook endpoint was turned off"
MESSAGE = ("Webhooks to {url} failed for 24 hours, so the endpoint is now disabled and gets "
           "no new events. Fix the receiver, then enable it again on the Webhooks page.")


def disable(session, endpoint: WebhookEndpoint, now: datetime, last_error: str | None
            ) -> list[int]:
    """Disable the failing endpoint and store the operators' notification; its ids (the
    caller publishes them after commit)."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.paused_until = None
    endpoint.disable_count += 1
    endpoint.disabled_reason = ("Failed for 24 hours" + (f"; last error: {last_error}"
                                                         if last_error else "."))[:2000]
    row = notifications.notification_row(
        KIND, TITLE, MESSAGE.format(url=endpoint.url),
        dedup_key=f"{KIND}:{endpoint.id}:{endpoint.disable_count}", now=now,
        data={"endpoint_id": endpoint.id, "url": endpoint.url,
              "failing_since": endpoint.failing_since.isoformat()
              if endpoint.failing_since else None})
    return notifications.store(session, [row])
