"""The API's JSON of endpoints, messages and attempts (the pages read the same fields)."""
from __future__ import annotations

from ...models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from ..serialize import iso


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    """An endpoint without its secret (only registration answers with that)."""
    return {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events or []),
            "enabled": endpoint.enabled, "created_at": iso(endpoint.created_at),
            "failing_since": iso(endpoint.failing_since),
            "last_success_at": iso(endpoint.last_success_at),
            "disabled_at": iso(endpoint.disabled_at),
            "disabled_reason": endpoint.disabled_reason}


def attempt_json(attempt: WebhookAttempt, event: str) -> dict:
    """One attempt of one message."""
    return {"id": attempt.id, "message_id": attempt.message_id, "event": event,
            "webhook_id": f"msg_{attempt.message_id}", "attempted_at": iso(attempt.attempted_at),
            "status_code": attempt.status_code, "error": attempt.error,
            "duration_ms": attempt.duration_ms, "resend": attempt.resend}


def message_json(message: WebhookMessage) -> dict:
    """One message as the page lists it."""
    return {"id": message.id, "event": message.event, "object_id": message.object_id,
            "status": message.status, "attempts": message.attempts,
            "created_at": iso(message.created_at), "next_attempt_at": iso(message.next_attempt_at),
            "delivered_at": iso(message.delivered_at), "last_status_code": message.last_status_code,
            "last_error": message.last_error}
