"""Endpoints as operators manage them: register (the secret shown once), list with their
health, enable, disable, delete; and the messages and attempts of one endpoint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select

from ...db import write_transaction
from ...models import WEBHOOK_EVENTS, WebhookAttempt, WebhookEndpoint, WebhookMessage
from ..errors import NotFound, ValidationFailed
from . import secrets
from .policy import UrlRules
from .urls import check_url

RECENT = timedelta(hours=24)  # "recent failures" on the page


@dataclass
class Registered:
    """A new endpoint and its secret: the one time the secret is seen."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass
class Health:
    """An endpoint with what operators look at: messages waiting, failures of the last day."""

    endpoint: WebhookEndpoint
    pending: int = 0
    failed_attempts_24h: int = 0
    delivered_24h: int = 0


def check_events(events) -> list[str]:
    """The subscribed events, each once, in the catalogue's order; ValidationFailed else."""
    if not isinstance(events, (list, tuple)) or not events:
        raise ValidationFailed("Choose at least one event.", fields={
            "events": f"Choose one or more of: {', '.join(WEBHOOK_EVENTS)}."})
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise ValidationFailed("Unknown event.", fields={
            "events": f"Choose from: {', '.join(WEBHOOK_EVENTS)}."})
    return [e for e in WEBHOOK_EVENTS if e in events]


def validate(url, events, rules: UrlRules) -> tuple[str, list[str]]:
    """Both fields checked, every problem reported together."""
    errors: dict[str, str] = {}
    try:
        url = check_url(url, rules)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        events = check_events(events)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed("The endpoint was not registered.", fields=errors)
    return url, events


def register(session, url, events, *, rules: UrlRules, key: str, user_id: int | None,
             now: datetime) -> Registered:
    """Register an endpoint; the result carries its new secret (never readable again)."""
    url, events = validate(url, events, rules)
    secret = secrets.new_secret()
    with write_transaction(session):
        endpoint = WebhookEndpoint(url=url, events=events, secret_sealed=secrets.seal(secret, key),
                                   enabled=True, created_by_id=user_id, created_at=now)
        session.add(endpoint)
    session.refresh(endpoint)
    return Registered(endpoint, secret)


def get_endpoint(session, endpoint_id: int) -> WebhookEndpoint:
    """One endpoint, or NotFound."""
    endpoint = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def list_endpoints(session, now: datetime) -> list[Health]:
    """Every endpoint, oldest first, with its pending messages and last day's outcomes
    (two GROUP BY queries whatever the number of endpoints)."""
    endpoints = list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
    m, a = WebhookMessage, WebhookAttempt
    pending = dict(session.execute(select(m.endpoint_id, func.count()).where(
        m.status == "pending").group_by(m.endpoint_id)).all())
    outcomes = {row[0]: row[1:] for row in session.execute(
        select(a.endpoint_id,
               func.count(case(((a.status_code.is_(None)) | (a.status_code < 200)
                                | (a.status_code >= 300), 1))),
               func.count(case(((a.status_code >= 200) & (a.status_code < 300), 1))))
        .where(a.attempted_at >= now - RECENT).group_by(a.endpoint_id))}
    return [Health(e, pending.get(e.id, 0), *outcomes.get(e.id, (0, 0))) for e in endpoints]


def set_enabled(session, endpoint_id: int, enabled: bool, now: datetime) -> WebhookEndpoint:
    """Enable or disable an endpoint. Enabling starts afresh: its failing run is forgotten
    and what is still pending goes out at the next sweep."""
    with write_transaction(session):
        endpoint = get_endpoint(session, endpoint_id)
        endpoint.enabled = enabled
        if enabled:
            endpoint.failing_since, endpoint.failures, endpoint.paused_until = None, 0, None
            endpoint.disabled_at, endpoint.disabled_reason = None, None
        else:
            endpoint.disabled_at = now
            endpoint.disabled_reason = "Disabled by an operator."
    return get_endpoint(session, endpoint_id)


def delete_endpoint(session, endpoint_id: int) -> WebhookEndpoint:
    """Delete an endpoint with its messages and attempts; the endpoint as it was."""
    with write_transaction(session):
        endpoint = get_endpoint(session, endpoint_id)
        session.expunge(endpoint)
        for model in (WebhookAttempt, WebhookMessage):  # no reliance on ON DELETE CASCADE
            session.execute(delete(model).where(model.endpoint_id == endpoint_id)
                            .execution_options(synchronize_session=False))
        session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                        .execution_options(synchronize_session=False))
    return endpoint


def attempts(session, endpoint_id: int, *, before_id: int | None = None, limit: int = 50
             ) -> tuple[list, int | None]:
    """The endpoint's attempts, newest first, with their message's event: (rows, next
    cursor)."""
    get_endpoint(session, endpoint_id)
    a, m = WebhookAttempt, WebhookMessage
    query = (select(a, m.event).join(m, m.id == a.message_id).where(a.endpoint_id == endpoint_id)
             .order_by(a.id.desc()).limit(limit + 1))
    if before_id:
        query = query.where(a.id < before_id)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more else None)


def messages(session, endpoint_id: int, *, status: str | None = None,
             before_id: int | None = None, limit: int = 50) -> tuple[list, int | None]:
    """The endpoint's messages, newest first: (messages, next cursor)."""
    m = WebhookMessage
    query = select(m).where(m.endpoint_id == endpoint_id).order_by(m.id.desc()).limit(limit + 1)
    if status:
        query = query.where(m.status == status)
    if before_id:
        query = query.where(m.id < before_id)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
