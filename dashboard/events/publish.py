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

from sqlalchemy import Date, Integer, bindparam, inspect, select

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


NOTIFICATION_ROWS = (select(*NOTIFICATION_COLUMNS)
                     .where(Notification.id.in_(bindparam("ids", expanding=True)))
                     .order_by(Notification.id))


def notification_rows(session, ids: list[int]):
    """The notifications with these ids, in id order, as rows for notification_json (one
    statement, built once)."""
    return session.execute(NOTIFICATION_ROWS, {"ids": list(ids)}).all()


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
        sent += emit_many(list(_notification_items(session, ids[start:start + BATCH], touched)))
    if with_unread and touched:
        publish_unread_counts(session, touched)
    if with_unread and ids:  # new notifications (a resolved one is re-sent without counts)
        notifications_published(ids)
    return sent


def publish_outcome(session, ids: Iterable[int], wallet_ids: Iterable[int] = ()) -> int:
    """New notifications, their recipients' unread counts and these wallets, all in one
    pipelined call: what a transaction's real-time task has to tell (a handful of events, so
    one Redis round trip instead of one per kind). Returns how many events reached the queue.
    """
    ids = sorted(set(ids))
    touched: set[int] = set()
    items = [*_notification_items(session, ids, touched)]
    items += _unread_items(session, touched)
    items += [item for wallet_id in dict.fromkeys(wallet_ids)
              if (item := _wallet_item(session, wallet_id)) is not None]
    sent = emit_many(items)
    if ids:
        notifications_published(ids)
    return sent


def _notification_items(session, ids: list[int], touched: set[int]):
    """The `notification` events of these ids (at most BATCH), adding their recipients to
    `touched`."""
    recipients = notif_service.recipient_ids(session, ids)
    for row in notification_rows(session, ids):
        users = recipients.get(row.id, [])
        touched.update(users)
        yield ("notification", notification_json(row),
               [OPERATORS, *(user_room(u) for u in users)])


def publish_unread_counts(session, user_ids: Iterable[int]) -> None:
    """Send each user's unread count, as the notification service counts it, to all their
    tabs."""
    emit_many(_unread_items(session, user_ids))


def _unread_items(session, user_ids: Iterable[int]) -> list:
    """The `unread_count` events of these users."""
    user_ids = list(user_ids)
    if not user_ids:
        return []
    counts = notif_service.unread_counts(session, user_ids)
    # One message per distinct count, to the rooms of every user with that count (at most
    # UNREAD_ROOMS per message): each tab still receives exactly its user's {count}, but a scan
    # that touched 100,000 users queues a few dozen messages instead of 100,000.
    rooms_by_count: dict[int, list[str]] = defaultdict(list)
    for uid in dict.fromkeys(user_ids):  # each user once, in the order given
        rooms_by_count[counts[uid]].append(user_room(uid))
    return [("unread_count", {"count": count}, rooms[start:start + UNREAD_ROOMS])
            for count, rooms in rooms_by_count.items()
            for start in range(0, len(rooms), UNREAD_ROOMS)]


def publish_task_run(run: TaskRun) -> None:
    """A scan run changed state or progressed (operators only)."""
    emit("task_run", task_run_json(run), [OPERATORS])


def publish_wallet(session, wallet_id: int) -> None:
    """A wallet's balance or state changed: to operators and the wallet's residents."""
    item = _wallet_item(session, wallet_id)
    if item is not None:
        emit(*item)


def _wallet_with_residents():
    """The statement behind a `wallet` event: the wallet :wallet_id's figures with the users
    who are its residents on :today joined on (a row per resident, one with no user when it
    has none). Built once: it runs on every top-up and purchase."""
    w = Wallet.__table__.c
    residents = notif_service.recipients_query(bindparam("today", type_=Date)).where(
        Wallet.id == bindparam("wallet_id", type_=Integer)).subquery()
    return (select(w.id, w.balance, w.state, residents.c.user_id)
            .outerjoin(residents, residents.c.wallet_id == w.id)
            .where(w.id == bindparam("wallet_id", type_=Integer)))


WALLET_WITH_RESIDENTS = _wallet_with_residents()


def _wallet_item(session, wallet_id: int):
    """The `wallet` event of a wallet as stored now (None when there is no such wallet),
    read in one statement as plain rows."""
    rows = session.execute(WALLET_WITH_RESIDENTS,
                           {"wallet_id": wallet_id, "today": utcnow().date()}).all()
    if not rows:
        return None
    rooms = [OPERATORS, *(user_room(r.user_id) for r in rows if r.user_id is not None)]
    return ("wallet", wallet_event(rows[0]), rooms)


def resident_ids(session, wallet_id: int) -> list[int]:
    """Users who are residents of the wallet's unit today."""
    query = notif_service.recipients_query(utcnow().date()).where(Wallet.id == wallet_id)
    return [row.user_id for row in session.execute(query)]
