"""Handing due messages to tasks: the sweep's side of sending.

The schedule lives in the rows, not in task countdowns: a message is due when it is
`pending` and its `next_attempt_at` has come, so a worker restart, a lost task or a broker
outage delays a message but never loses it. The sweep (every few seconds) fails what is past
its 24 h, then leases the due messages of each endpoint that is enabled and not paused: one
UPDATE per endpoint writes a fresh `lease_token` and pushes `next_attempt_at` a lease ahead,
and the messages go to tasks in batches. A task sends only what still carries its token
(`sending.claim`), so a batch handed out twice (a lease that ran out while its task waited in
a long queue) is sent by one task, never two. While an endpoint fails, it gets one message
per backoff step (a probe), not its whole backlog.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from ...db import write_transaction
from ...models import WebhookEndpoint, WebhookMessage
from ..errors import Conflict, NotFound
from . import notices
from .policy import LEASE, RETRY_WINDOW

BATCH = 100  # messages per send task
IN_FLIGHT = 2000  # leased messages per endpoint at a time (the queue holds no more)
EXPIRED = "Not delivered within 24 hours; given up."


@dataclass(frozen=True)
class Batch:
    """Messages of one endpoint for one task, under one lease token."""

    endpoint_id: int
    token: str
    message_ids: list[int]


def expire(session, now: datetime) -> int:
    """Fail the pending messages whose retry window has ended; how many."""
    m = WebhookMessage
    return session.execute(
        update(m).where(m.status == "pending", m.expires_at <= now)
        .values(status="failed", lease_token=None, last_error=EXPIRED)
        .execution_options(synchronize_session=False)).rowcount or 0


def due_batches(session, now: datetime, *, batch: int = BATCH, in_flight: int = IN_FLIGHT
                ) -> list[Batch]:
    """Lease the due messages of every sendable endpoint and cut them into batches.

    Runs in the caller's transaction (the sweep commits, then sends the tasks).
    """
    m, e = WebhookMessage, WebhookEndpoint
    endpoints = session.execute(
        select(e.id, e.failing_since).where(e.enabled.is_(True),
                                            or_(e.paused_until.is_(None), e.paused_until <= now))
        .order_by(e.id)).all()
    batches: list[Batch] = []
    for endpoint_id, failing_since in endpoints:
        leased = session.scalar(select(func.count()).select_from(m).where(
            m.endpoint_id == endpoint_id, m.status == "pending", m.lease_token.is_not(None),
            m.next_attempt_at > now)) or 0
        room = in_flight - leased
        if failing_since is not None:  # a probe: one message until one gets through
            room = 0 if leased else 1
        if room <= 0:
            continue
        token = uuid.uuid4().hex
        due = (select(m.id).where(m.endpoint_id == endpoint_id, m.status == "pending",
                                  m.next_attempt_at <= now).order_by(m.id).limit(room))
        ids = sorted(session.scalars(
            update(m).where(m.id.in_(due.scalar_subquery()))
            .values(lease_token=token, next_attempt_at=now + LEASE)
            .returning(m.id).execution_options(synchronize_session=False)))
        batches += [Batch(endpoint_id, token, ids[i:i + batch]) for i in range(0, len(ids), batch)]
    return batches


@dataclass
class Swept:
    """What one sweep did: messages given up, batches to send, and the operators'
    notifications of endpoints it disabled (to publish after commit)."""

    expired: int
    batches: list[Batch]
    notification_ids: list[int]


def disable_failing(session, now: datetime) -> list[int]:
    """Disable the endpoints that have failed, with no 2xx since, for the whole retry
    window (whether or not a probe fell on its last second); the notifications' ids."""
    e = WebhookEndpoint
    failing = session.scalars(select(e).where(e.enabled.is_(True),
                                              e.failing_since <= now - RETRY_WINDOW))
    ids: list[int] = []
    for endpoint in failing:
        last = session.scalar(select(WebhookMessage.last_error).where(
            WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.last_error.is_not(None))
            .order_by(WebhookMessage.next_attempt_at.desc()).limit(1))
        ids += notices.disable(session, endpoint, now, last)
    return ids


def sweep(session, now: datetime) -> Swept:
    """One sweep in one write transaction."""
    with write_transaction(session):
        notified = disable_failing(session, now)
        expired = expire(session, now)
        batches = due_batches(session, now)
    return Swept(expired, batches, notified)


def resend(session, message_id: int, now: datetime) -> Batch:
    """An operator's Resend: the message, whatever its status, gets a new attempt now.

    It is leased for the caller, who queues its task at once (if that fails, the lease runs
    out and the sweep sends it). A message that had failed gets a new 24 h of retries.
    Conflict when its endpoint is disabled (enable it first).
    """
    with write_transaction(session):
        message = session.get(WebhookMessage, message_id, populate_existing=True)
        if message is None:
            raise NotFound("No such webhook message.")
        endpoint = session.get(WebhookEndpoint, message.endpoint_id)
        if not endpoint.enabled:
            raise Conflict("This endpoint is disabled: enable it before resending.",
                           code="endpoint_disabled")
        token = uuid.uuid4().hex
        message.status, message.lease_token = "pending", token
        message.next_attempt_at = now + LEASE
        message.expires_at = max(message.expires_at, now + RETRY_WINDOW)
        return Batch(endpoint.id, token, [message.id])


def prune(session, now: datetime, *, days: int, chunk: int = 5000) -> int:
    """Delete delivered and failed messages (and their attempts) finished more than `days`
    ago, a chunk at a time; how many."""
    m = WebhookMessage
    cutoff = now - RETRY_WINDOW * days
    total = 0
    while True:
        with write_transaction(session):
            ids = select(m.id).where(m.status.in_(("delivered", "failed")),
                                     m.next_attempt_at < cutoff).limit(chunk)
            gone = session.execute(delete(m).where(m.id.in_(ids.scalar_subquery()))
                                   .execution_options(synchronize_session=False)).rowcount or 0
        total += gone
        if gone < chunk:
            return total
