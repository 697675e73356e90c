"""Messages made where the events happen, in the transaction that makes the event.

Each hook first reads which enabled endpoints subscribe to its event (a few rows; when there
are none, that one query is all it costs), then writes one message per endpoint and object in
one INSERT … SELECT, whatever the number of objects: a scan chunk's 20,000 notifications
with one endpoint are one statement. Notifications and finished runs are unique per endpoint
(a partial unique index; ON CONFLICT DO NOTHING skips a repeat), so a hook that runs twice
over the same ids makes nothing twice. The worker sends them (sending.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, cast, insert, literal, select, true

from ...models import Notification, TaskRun, Wallet, WebhookEndpoint, WebhookMessage
from ...models.types import UTCDateTime
from ..sqlfuncs import insert_ignore
from .policy import RETRY_WINDOW

NOTIFICATION_CREATED = "notification.created"
WALLET_STATE_CHANGED = "wallet.state_changed"
TASK_RUN_FINISHED = "task_run.finished"
COLUMNS = ["endpoint_id", "event", "object_id", "previous_state", "state", "status",
           "attempts", "created_at", "next_attempt_at", "expires_at"]


def subscribers(session, event: str) -> list[int]:
    """The ids of the enabled endpoints that want `event`."""
    rows = session.execute(select(WebhookEndpoint.id, WebhookEndpoint.events)
                           .where(WebhookEndpoint.enabled.is_(True)))
    return [endpoint_id for endpoint_id, events in rows if event in (events or ())]


def _source(event: str, endpoints: list[int], object_id, now: datetime, *, previous=None,
            state=None):
    """The SELECT list of a message row for each (endpoint, object) the caller's FROM gives."""
    e = WebhookEndpoint.__table__.c
    at = literal(now, UTCDateTime())
    return [e.id, cast(literal(event), String), object_id,
            previous if previous is not None else cast(literal(None), String),
            state if state is not None else cast(literal(None), String),
            cast(literal("pending"), String), cast(literal(0), Integer), at, at,
            literal(now + RETRY_WINDOW, UTCDateTime())], e.id.in_(endpoints)


def _insert(session, rows, *, unique: bool) -> int:
    """INSERT … SELECT the message rows; the number written."""
    table = WebhookMessage.__table__
    stmt = insert_ignore(session, table) if unique else insert(table)
    return session.execute(stmt.from_select(COLUMNS, rows)).rowcount or 0


def notifications_created(session, first_id: int, last_id: int, now: datetime) -> int:
    """notification.created for the notifications with ids first_id..last_id."""
    endpoints = subscribers(session, NOTIFICATION_CREATED)
    if not endpoints:
        return 0
    n = Notification.__table__
    columns, chosen = _source(NOTIFICATION_CREATED, endpoints, n.c.id, now)
    rows = (select(*columns).select_from(n.join(WebhookEndpoint.__table__, true()))
            .where(n.c.id.between(first_id, last_id), chosen))
    return _insert(session, rows, unique=True)


def task_runs_finished(session, run_ids: list[int], now: datetime) -> int:
    """task_run.finished for these runs (called as they reach succeeded or failed)."""
    if not run_ids:
        return 0
    endpoints = subscribers(session, TASK_RUN_FINISHED)
    if not endpoints:
        return 0
    r = TaskRun.__table__
    columns, chosen = _source(TASK_RUN_FINISHED, endpoints, r.c.id, now)
    rows = (select(*columns).select_from(r.join(WebhookEndpoint.__table__, true()))
            .where(r.c.id.in_(run_ids), chosen))
    return _insert(session, rows, unique=True)


def wallet_state_changed(session, wallet_id: int, previous: str, state: str,
                         now: datetime) -> int:
    """wallet.state_changed for one wallet whose state the caller is changing."""
    if previous == state:
        return 0
    endpoints = subscribers(session, WALLET_STATE_CHANGED)
    if not endpoints:
        return 0
    rows = [{"endpoint_id": e, "event": WALLET_STATE_CHANGED, "object_id": wallet_id,
             "previous_state": previous, "state": state, "status": "pending", "attempts": 0,
             "created_at": now, "next_attempt_at": now, "expires_at": now + RETRY_WINDOW}
            for e in endpoints]
    session.execute(insert(WebhookMessage.__table__), rows)
    return len(rows)


def wallet_states_changing(session, where, new_state, now: datetime) -> int:
    """wallet.state_changed for every wallet matching `where` whose state is not
    `new_state` (an SQL expression): call it just before the UPDATE that sets the state, in
    the same transaction, with the UPDATE's own condition and expression."""
    endpoints = subscribers(session, WALLET_STATE_CHANGED)
    if not endpoints:
        return 0
    w = Wallet.__table__
    columns, chosen = _source(WALLET_STATE_CHANGED, endpoints, w.c.id, now,
                              previous=w.c.state, state=new_state)
    rows = (select(*columns).select_from(w.join(WebhookEndpoint.__table__, true()))
            .where(where, w.c.state != new_state, chosen))
    return _insert(session, rows, unique=False)
