"""Messages made where the events happen, in the transaction that makes the event.

Each hook is one INSERT … SELECT whatever the number of objects: the endpoints that are
enabled and subscribe to the event, crossed with the objects (a scan chunk's 20,000
notifications with one endpoint are one statement). No hook reads first: on SQLite a read
would open a snapshot, and the caller's UPDATE after it could then fail at once with
"database is locked" instead of waiting for the write lock. An uncorrelated EXISTS guard
(evaluated once, before any row is visited, by SQLite and PostgreSQL alike) makes a hook with
no subscriber cost next to nothing. Notifications and finished runs are unique per endpoint
(a partial unique index; ON CONFLICT DO NOTHING skips a repeat), so a hook that runs twice
over the same ids makes nothing twice. The worker sends them (sending.py).

Subscriptions are matched on the JSON text of `events` (`LIKE '%"task_run.finished"%'`):
endpoints are few and their event lists short, and the text is the same on both databases.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    literal,
    literal_column,
    select,
    true,
)

from ...models import Notification, TaskRun, Wallet, WebhookEndpoint, WebhookMessage
from ...models.types import UTCDateTime
from ..sqlfuncs import insert_ignore
from .policy import RETRY_WINDOW

NOTIFICATION_CREATED = "notification.created"
WALLET_STATE_CHANGED = "wallet.state_changed"
TASK_RUN_FINISHED = "task_run.finished"
COLUMNS = ["endpoint_id", "event", "object_id", "previous_state", "state", "status",
           "attempts", "created_at", "next_attempt_at", "expires_at"]
E = WebhookEndpoint.__table__
EVENT_NAME = re.compile(r"[a-z_]+\.[a-z_]+")


def subscribed(event: str):
    """The condition on webhook_endpoints: enabled and subscribed to `event`.

    The pattern is written into the SQL, not bound: SQLite plans a `LIKE ?` for the value
    bound at the time, so it prepares such a statement again at every execution (≈ 0.1 ms
    for a hook's INSERT … SELECT, on every notification stored). Event names are our own
    constants, so the literal is safe.
    """
    if not EVENT_NAME.fullmatch(event):
        raise ValueError(f"not an event name: {event!r}")
    return E.c.enabled.is_(True) & cast(E.c.events, String).like(
        literal_column(f"'%\"{event}\"%'"))


def subscribers(session, event: str) -> list[int]:
    """The ids of the enabled endpoints that want `event` (for pages and tests)."""
    return list(session.scalars(select(E.c.id).where(subscribed(event)).order_by(E.c.id)))


def _text(value) -> object:
    """A bound string (or NULL) typed as text."""
    return cast(literal(value), String)


def _insert(session, event: str, objects, object_id, now: datetime, *, where=None,
            previous=None, state=None) -> int:
    """One INSERT … SELECT of a message per subscribed endpoint and row of `objects` (a
    table, or None for a single object given by `object_id`); the number written."""
    stmt = _statement(session, event, objects, object_id, where=where, previous=previous,
                      state=state)
    return _run(session, stmt, now)


def _statement(session, event: str, objects, object_id, *, where=None, previous=None,
               state=None):
    """_insert's statement, its times bound as :now and :expires (see _run)."""
    at = bindparam("now", type_=UTCDateTime())
    columns = [E.c.id, _text(event), object_id,
               previous if previous is not None else _text(None),
               state if state is not None else _text(None),
               _text("pending"), cast(literal(0), Integer), at, at,
               bindparam("expires", type_=UTCDateTime())]
    source = E if objects is None else E.join(objects, true())
    guard = exists(select(E.c.id).where(subscribed(event)))
    rows = select(*columns).select_from(source).where(subscribed(event), guard)
    if where is not None:
        rows = rows.where(where)
    return insert_ignore(session, WebhookMessage.__table__).from_select(COLUMNS, rows)


def _run(session, stmt, now: datetime, **params) -> int:
    """Execute a hook's statement made at `now`; the number of messages written."""
    return session.execute(stmt, {"now": now, "expires": now + RETRY_WINDOW,
                                  **params}).rowcount or 0


#: notification.created's statement by (database kind, one id or a range): built once, as
#: it runs for every notification stored.
_CREATED: dict[tuple[str, bool], object] = {}


def notifications_created(session, first_id: int, last_id: int, now: datetime) -> int:
    """notification.created for the notifications with ids first_id..last_id."""
    key = (session.get_bind().dialect.name, first_id == last_id)
    if key not in _CREATED:
        n = Notification.__table__
        first, last = bindparam("first_id", type_=Integer), bindparam("last_id", type_=Integer)
        _CREATED[key] = _statement(session, NOTIFICATION_CREATED, n, n.c.id,
                                   where=n.c.id == first if key[1] else n.c.id.between(first, last))
    return _run(session, _CREATED[key], now, first_id=first_id, last_id=last_id)


def task_runs_finished(session, run_ids: list[int], now: datetime) -> int:
    """task_run.finished for these runs (called as they reach succeeded or failed)."""
    if not run_ids:
        return 0
    r = TaskRun.__table__
    return _insert(session, TASK_RUN_FINISHED, r, r.c.id, now, where=r.c.id.in_(run_ids))


def wallet_state_changed(session, wallet_id: int, previous: str, state: str,
                         now: datetime) -> int:
    """wallet.state_changed for one wallet whose state the caller is changing."""
    if previous == state:
        return 0
    return _insert(session, WALLET_STATE_CHANGED, None, cast(literal(wallet_id), Integer), now,
                   previous=_text(previous), state=_text(state))


def wallet_states_changing(session, where, new_state, now: datetime) -> int:
    """wallet.state_changed for every wallet matching `where` whose state is not
    `new_state` (an SQL expression): call it just before the UPDATE that sets the state, in
    the same transaction, with the UPDATE's own condition and expression."""
    w = Wallet.__table__
    return _insert(session, WALLET_STATE_CHANGED, w, w.c.id, now,
                   where=and_(where, w.c.state != new_state), previous=w.c.state,
                   state=new_state)
