"""A scan chunk's notifications: each one to those of its residents who are connected now,
their unread counts, and one `notifications_batch` to operators.

A scan of a million wallets makes about 190,000 notifications, most for residents who are not
looking. Publishing each to its recipients and to operators cost more than the scan itself
(bench/RESULTS.md), and an operator's feed re-rendered once per notification. So, after the
chunk's commit:

* who is connected is read once (dashboard.events.presence, one Redis round trip);
* each notification with a connected recipient goes to those recipients' rooms only, its
  payload encoded once, many to a queue message (dashboard.events.fanout), each recipient's
  unread count right after their last one;
* operators get one `notifications_batch` {task_run_id, count, by_type, last_id}: their feed
  refreshes its rows once from the database (static/js/live.js);
* residents who are not connected get theirs through `sync` when they connect, as after any
  disconnection. One who connects after the read above syncs after the commit, so finds it.

Real-time notifications (top-ups, purchases, alerts after a transaction) are few and keep
the path of dashboard.events.publish: to every recipient and to operators.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from ..models import Notification, NotificationDelivery
from ..services import notifications as notif_service
from ..services.serialize import notification_json
from .deliveries import notifications_published
from .emitter import connected_users, emit, emit_batch
from .publish import notification_rows
from .rooms import OPERATORS, user_room

BATCH = 1000  # ids per query, and notifications per call to emit_batch


def publish_scan_notifications(session, ids: Iterable[int], *,
                               task_run_id: int | None) -> int:
    """Publish a committed scan chunk's notifications (see the module docstring); how many
    individual `notification` events reached the queue (at least: a pipeline that broke
    counts as none)."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    recipients = connected_recipients(session, ids, connected_users())
    # Each resident's unread count goes right after their last notification of the chunk,
    # in the same batch: the web queues both on the socket together, and its writer sends
    # them in one wake-up instead of two.
    last_of = {u: nid for nid, users in sorted(recipients.items()) for u in users}
    counts = notif_service.unread_counts(session, last_of) if last_of else {}
    sent = 0
    reached = sorted(recipients)
    for start in range(0, len(reached), BATCH):
        items = []
        for row in notification_rows(session, reached[start:start + BATCH]):
            users = recipients[row.id]
            items.append(("notification", notification_json(row),
                          [user_room(u) for u in users]))
            items.extend(("unread_count", {"count": counts[u]}, [user_room(u)])
                         for u in users if last_of[u] == row.id)
        notes = len(reached[start:start + BATCH])
        # Of what reached the queue, at least this many were notifications.
        sent += max(0, emit_batch(items) - (len(items) - notes))
    emit("notifications_batch", batch_summary(session, ids, task_run_id), [OPERATORS])
    notifications_published(ids)
    return sent


def connected_recipients(session, ids: list[int], connected: set[int] | None
                         ) -> dict[int, list[int]]:
    """{notification id: its in-app recipients among `connected`}, only for notifications
    that have one. `connected` None (unknown) means everyone: publish as before presence.

    Asked by user when fewer users are connected than the chunk has notifications (an index
    seek per user and notification range), else by notification.
    """
    found: dict[int, list[int]] = {}
    if connected is not None and not connected:
        return found
    wanted = set(ids)
    d = NotificationDelivery
    if connected is not None and len(connected) < len(ids):
        users = sorted(connected)
        for start in range(0, len(users), BATCH):
            rows = session.execute(select(d.notification_id, d.user_id).where(
                d.user_id.in_(users[start:start + BATCH]), d.channel == notif_service.IN_APP,
                d.notification_id.between(ids[0], ids[-1])))
            for nid, uid in rows:
                if nid in wanted:
                    found.setdefault(nid, []).append(uid)
        return {nid: sorted(uids) for nid, uids in found.items()}
    for start in range(0, len(ids), BATCH):
        for nid, users in notif_service.recipient_ids(session, ids[start:start + BATCH]).items():
            users = [u for u in users if connected is None or u in connected]
            if users:
                found[nid] = sorted(users)
    return found


def batch_summary(session, ids: list[int], task_run_id: int | None) -> dict:
    """The operators' `notifications_batch`: {task_run_id, count, by_type, last_id}.

    Counted by type over the chunk's id range in one query; if the range also holds other
    rows of the run (chunks of another worker interleave their ids on PostgreSQL), counted
    by id instead.
    """
    n = Notification
    by_type = dict(session.execute(
        select(n.type, func.count()).where(n.id.between(ids[0], ids[-1]),
                                           n.task_run_id == task_run_id)
        .group_by(n.type)).all())
    if sum(by_type.values()) != len(ids):
        by_type = {}
        for start in range(0, len(ids), BATCH):
            for kind, count in session.execute(
                    select(n.type, func.count()).where(n.id.in_(ids[start:start + BATCH]))
                    .group_by(n.type)):
                by_type[kind] = by_type.get(kind, 0) + count
    return {"task_run_id": task_run_id, "count": len(ids),
            "by_type": dict(sorted(by_type.items())), "last_id": ids[-1]}
