"""The one publisher of live events, used by the web app and the worker alike.

Events go through Flask-SocketIO's Redis message queue, so whichever process emits, every web
process delivers them to its connected browsers. Rooms: `user:<id>` for each signed-in user
and `operators` for operators and viewers. Payloads carry data, never HTML.

Publishing happens after the database commit: `after_commit(session, fn)` defers a call until
the session's transaction commits (and drops it on rollback), so a browser is never told about
something a rollback took back.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession

from .models import Notification, NotificationDelivery, TaskRun, Wallet, utcnow
from .services import notifications as notif_service
from .services.serialize import notification_json, task_run_json, wallet_event

log = logging.getLogger(__name__)

OPERATORS = "operators"
_socketio = None


def init(socketio) -> None:
    """Use this Flask-SocketIO instance (the web app's, or the worker's emit-only one)."""
    global _socketio
    _socketio = socketio


def user_room(user_id: int) -> str:
    """The room every connection of one user joins."""
    return f"user:{user_id}"


def emit(name: str, payload: dict, rooms: list[str]) -> bool:
    """Emit one event to some rooms; False (logged) when the message queue is unreachable.

    A failed emit never fails the request or task that caused it: the data is committed, and
    browsers catch up through `sync` when they reconnect or poll.
    """
    if _socketio is None or not rooms:
        return False
    try:
        _socketio.emit(name, payload, to=rooms if len(rooms) > 1 else rooms[0])
        return True
    except Exception as exc:  # the queue is Redis; any failure there is the same to us
        log.warning("could not publish %s: %s", name, exc)
        return False


# -- after-commit plumbing ---------------------------------------------------------------

def after_commit(session, callback: Callable[[], None]) -> None:
    """Call `callback` once the session's current transaction has committed."""
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(OrmSession, "after_commit")
def _run_after_commit(session):
    """Run (and forget) the deferred callbacks of a committed transaction."""
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a failed publish must not undo or hide a commit
            log.exception("after-commit callback failed")


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_commit(session):
    """A rolled-back transaction publishes nothing."""
    session.info.pop("after_commit", None)


# -- what gets published ---------------------------------------------------------------

def publish_notifications(session, ids: Iterable[int], *, with_unread: bool = True) -> int:
    """Send each notification to its recipients and to operators; then their unread counts.

    Returns how many notifications were published. Reads in batches so a scan that made
    100,000 notifications does not hold them all in memory.
    """
    ids = sorted(set(ids))
    sent = 0
    touched: set[int] = set()
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        rows = session.scalars(select(Notification).where(Notification.id.in_(batch))
                               .order_by(Notification.id)).all()
        recipients = notif_service.recipient_ids(session, batch)
        for n in rows:
            users = recipients.get(n.id, [])
            touched.update(users)
            if emit("notification", notification_json(n),
                    [OPERATORS, *(user_room(u) for u in users)]):
                sent += 1
    if with_unread and touched:
        publish_unread_counts(session, touched)
    return sent


def publish_unread_counts(session, user_ids: Iterable[int]) -> None:
    """Send each user's unread count, recomputed from the database, to all their tabs."""
    user_ids = list(user_ids)
    counts: dict[int, int] = defaultdict(int)
    for start in range(0, len(user_ids), 1000):
        batch = user_ids[start:start + 1000]
        rows = session.execute(
            select(NotificationDelivery.user_id, func.count())
            .where(NotificationDelivery.user_id.in_(batch),
                   NotificationDelivery.channel == notif_service.IN_APP,
                   NotificationDelivery.read_at.is_(None))
            .group_by(NotificationDelivery.user_id))
        counts.update(dict(rows.all()))
    for uid in user_ids:
        emit("unread_count", {"count": counts[uid]}, [user_room(uid)])


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
