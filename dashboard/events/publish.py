"""What gets published, to whom: notifications, unread counts, task runs and wallets.

Events: `notification` (to its recipients and operators), `unread_count` {count} (to every
tab of one user), `task_run` (operators) and `wallet` {id, balance, state} (operators and the
wallet's residents). Payloads carry data, never HTML, and come from the same serializers as
the API's JSON.

A scan chunk's notifications take dashboard.events.scans instead: only to connected
residents, and one summary to operators.

Callers publish right after their own commit, so a browser is never told about something a
rollback took back; every function re-reads what it sends from the database.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import inspect, select

from ..models import Notification, TaskRun, Wallet, utcnow
from ..services import notifications as notif_service
from ..services.serialize import notification_json, task_run_json, wallet_event
from .deliveries import notifications_published
from .emitter import emit, emit_many
from .rooms import OPERATORS, user_room

BATCH = 1000  # notifications read, and published in one pipelined call, at a time
UNREAD_ROOMS = 1000  # rooms per `unread_count` message: ~15 kB, cheap for a web to route

# Every mapped column of a notification, each labelled with its attribute name: a row of them
# reads like the ORM object to serialize.notification_json (row.id, row.data, ...), so the live
# payload keeps coming from the one serializer, without building ORM objects (identity map,
# instance state) that are thrown away straight after.
NOTIFICATION_COLUMNS = tuple(getattr(Notification, attr.key)
                             for attr in inspect(Notification).column_attrs)


def notification_rows(session, ids: list[int]):
    """The notifications with these ids, in id order, as rows for notification_json."""
    return session.execute(select(*NOTIFICATION_COLUMNS).where(Notification.id.in_(ids))
                           .order_by(Notification.id)).all()


def publish_notifications(session, ids: Iterable[int], *, with_unread: bool = True) -> int:
    """Send each notification to its recipients and to operators; then their unread counts.

    Returns how many notifications reached the queue. Reads in batches so a scan that made
    100,000 notifications does not hold them all in memory; each batch is published in one
    pipelined call (emit_many).
    """
    ids = sorted(set(ids))
    sent = 0
    touched: set[int] = set()
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        recipients = notif_service.recipient_ids(session, batch)
        items = []
        for row in notification_rows(session, batch):
            users = recipients.get(row.id, [])
            touched.update(users)
            items.append(("notification", notification_json(row),
                          [OPERATORS, *(user_room(u) for u in users)]))
        sent += emit_many(items)
    if with_unread and touched:
        publish_unread_counts(session, touched)
    if with_unread and ids:  # new notifications (a resolved one is re-sent without counts)
        notifications_published(ids)
    return sent


def publish_unread_counts(session, user_ids: Iterable[int]) -> None:
    """Send each user's unread count, as the notification service counts it, to all their
    tabs."""
    user_ids = list(user_ids)
    counts = notif_service.unread_counts(session, user_ids)
    # One message per distinct count, to the rooms of every user with that count (at most
    # UNREAD_ROOMS per message): each tab still receives exactly its user's {count}, but a scan
    # that touched 100,000 users queues a few dozen messages instead of 100,000.
    rooms_by_count: dict[int, list[str]] = defaultdict(list)
    for uid in dict.fromkeys(user_ids):  # each user once, in the order given
        rooms_by_count[counts[uid]].append(user_room(uid))
    emit_many(("unread_count", {"count": count}, rooms[start:start + UNREAD_ROOMS])
              for count, rooms in rooms_by_count.items()
              for start in range(0, len(rooms), UNREAD_ROOMS))


def publish_task_run(run: TaskRun) -> None:
    """A scan run changed state or progressed (operators only)."""
    emit("task_run", task_run_json(run), [OPERATORS])


def publish_wallet(session, wallet_id: int) -> None:
    """A wallet's balance or state changed: to operators and the wallet's residents."""
    wallet = session.get(Wallet, wallet_id, populate_existing=True)
    if wallet is None:
        return
    residents = resident_ids(session, wallet_id)
    emit("wallet", wallet_event(wallet), [OPERATORS, *(user_room(u) for u in residents)])


def resident_ids(session, wallet_id: int) -> list[int]:
    """Users who are residents of the wallet's unit today."""
    query = notif_service.recipients_query(utcnow().date()).where(Wallet.id == wallet_id)
    return [row.user_id for row in session.execute(query)]
