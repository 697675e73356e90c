"""The `delivery` event: an email or SMS delivery changed status (operators only).

{id, notification_id, channel, status}, re-read from the database after the commit that made
the change; one pipelined call per batch, however many changed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import select

from ..models import NotificationDelivery
from .emitter import emit_many
from .rooms import OPERATORS

BATCH = 1000
D = NotificationDelivery

#: Called with the ids of notifications just published (after their commit): the worker
#: registers the deliveries queue's kick here, so email and SMS go as soon as they can.
_published_hooks: list[Callable[[list[int]], None]] = []


def delivery_event(row) -> dict:
    """The event's payload of one delivery row."""
    return {"id": row.id, "notification_id": row.notification_id, "channel": row.channel,
            "status": row.status}


def publish_deliveries(session, ids: Iterable[int]) -> int:
    """Send the current status of these deliveries to operators; how many reached the
    queue."""
    ids = sorted(set(ids))
    sent = 0
    for start in range(0, len(ids), BATCH):
        rows = session.execute(select(D.id, D.notification_id, D.channel, D.status)
                               .where(D.id.in_(ids[start:start + BATCH])).order_by(D.id))
        sent += emit_many(("delivery", delivery_event(row), [OPERATORS]) for row in rows)
    return sent


def on_notifications_published(hook: Callable[[list[int]], None]) -> None:
    """Call `hook(ids)` after every publish of new notifications in this process."""
    if hook not in _published_hooks:
        _published_hooks.append(hook)


def notifications_published(ids: list[int]) -> None:
    """Tell the hooks (never fails the publisher: a hook's error is its own)."""
    import logging

    for hook in list(_published_hooks):
        try:
            hook(ids)
        except Exception as exc:  # noqa: BLE001 - the notifications are out; the sweep recovers
            logging.getLogger(__name__).warning("after-publish hook failed: %s", exc)
