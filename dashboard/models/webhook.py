"""Outbound webhooks for integrators: endpoints, the messages owed to each, every attempt."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .common import utcnow
from .types import UTCDateTime

#: The events an endpoint can subscribe to (DESIGN.md "Channels and delivery").
WEBHOOK_EVENTS = ("notification.created", "wallet.state_changed", "task_run.finished")
#: A message is `pending` until a 2xx answer (`delivered`) or until it gives up (`failed`).
MESSAGE_STATES = ("pending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A URL an operator registered, the events it wants and its health.

    `secret_sealed` is the `whsec_` signing secret sealed with a key derived from the app's
    secret (services/webhooks/secrets.py): signing needs the secret itself, so it cannot be
    hashed, but a copy of the database alone does not give it away. `failing_since` is the
    start of the current run of failed attempts (cleared by a 2xx); `paused_until` holds the
    endpoint back between attempts while it fails, so a dead endpoint costs one request per
    backoff step, not one per message.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts failed in a row
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Bumped each time the endpoint is disabled for failing: the key of the operators'
    # notification, so each disabling tells them once.
    disable_count: Mapped[int] = mapped_column(Integer, default=0)


class WebhookMessage(Base):
    """One event owed to one endpoint: made where the event happens, sent by the worker.

    `object_id` is the notification, wallet or task run the event is about (no foreign key:
    retention prunes those on its own schedule, and a message outlives nothing it needs).
    For wallet.state_changed, `previous_state` and `state` are the states at the change.
    `payload` is the body, written at the first attempt and sent again as it was by every
    retry and Resend. `next_attempt_at` is when the sweep sends it next (or, while a task
    holds it under `lease_token`, when the lease runs out); `expires_at` is when it gives up.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (
        # The sweep: what is due, oldest first.
        Index("ix_webhook_messages_due", "status", "next_attempt_at"),
        Index("ix_webhook_messages_endpoint", "endpoint_id", "id"),
        # A notification or a finished run is one message per endpoint, however often the
        # hook runs over it (a chunk redone, two writers' id ranges overlapping). A wallet
        # changes state many times, so its messages are not unique.
        Index("uq_webhook_messages_object", "endpoint_id", "event", "object_id", unique=True,
              sqlite_where=text("event != 'wallet.state_changed'"),
              postgresql_where=text("event != 'wallet.state_changed'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int] = mapped_column(Integer)
    previous_state: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One HTTP request of a message: when, the answer's status (None: no answer), the
    error, how long it took, and whether an operator's Resend asked for it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_attempts_message", "message_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    resend: Mapped[bool] = mapped_column(default=False)
