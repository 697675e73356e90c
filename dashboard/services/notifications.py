"""Storing notifications once, delivering them to the unit's residents, and reading them back."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select, update

from ..models import Notification, NotificationDelivery, Occupancy, User, Wallet, utcnow
from ..models.types import UTCDateTime
from .errors import NotFound
from .messages import PRIORITIES
from .sqlfuncs import insert_ignore

IN_APP = "in_app"


def notification_row(kind: str, title: str, message: str, *, dedup_key: str, now: datetime,
                     wallet_id: int | None = None, meter_id: int | None = None,
                     transaction_id: int | None = None, task_run_id: int | None = None,
                     data: dict | None = None) -> dict:
    """The column values of one notification, ready for `store`."""
    return {
        "type": kind, "title": title, "message": message, "priority": PRIORITIES[kind],
        "wallet_id": wallet_id, "meter_id": meter_id, "transaction_id": transaction_id,
        "task_run_id": task_run_id, "data": data or {}, "dedup_key": dedup_key,
        "created_at": now,
    }


def store(session, rows: list[dict]) -> list[int]:
    """Insert notifications, skipping any whose dedup_key exists, and deliver the new ones.

    Returns the ids of the notifications this call created (in id order). Two statements
    whatever the number of rows: the insert and the deliveries. ON CONFLICT DO NOTHING skips
    a key stored before (a task delivered twice, a claim re-read) or by a racing writer, and
    RETURNING names only the rows this insert made, so a repeat is never reported (and
    published) as new.
    """
    if not rows:
        return []
    stmt = insert_ignore(session, Notification.__table__).returning(Notification.__table__.c.id)
    ids = sorted(session.scalars(stmt, rows))
    if ids:
        deliver(session, ids[0], ids[-1])
    return ids


def recipients_query(today):
    """Resident accounts linked to a wallet's unit today: (wallet_id, user_id) pairs."""
    return (
        select(Wallet.id.label("wallet_id"), User.id.label("user_id"))
        .join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
        .join(User, User.person_id == Occupancy.person_id)
        .where(User.role == "resident", User.active.is_(True), Occupancy.start_date <= today,
               or_(Occupancy.end_date.is_(None), Occupancy.end_date >= today))
    )


def deliver(session, first_id: int, last_id: int) -> None:
    """Create the in-app deliveries of notifications first_id..last_id, set-based.

    Re-running is harmless: the (notification, user, channel) unique constraint skips
    deliveries that exist, so another writer's notifications in the range are also safe. The
    same constraint skips a pair that two occupancies would yield twice, so no DISTINCT
    (and no temporary B-tree to sort a scan chunk's rows) is needed.
    """
    today = utcnow().date()
    recipients = recipients_query(today).subquery()
    source = (
        select(Notification.id, recipients.c.user_id, literal(IN_APP),
               literal(utcnow(), UTCDateTime()))
        .join(recipients, recipients.c.wallet_id == Notification.wallet_id)
        .where(Notification.id.between(first_id, last_id))
    )
    stmt = insert_ignore(session, NotificationDelivery.__table__).from_select(
        ["notification_id", "user_id", "channel", "created_at"], source)
    session.execute(stmt)


def recipient_ids(session, notification_ids: list[int]) -> dict[int, list[int]]:
    """For each notification id, the users it was delivered to in-app."""
    result: dict[int, list[int]] = {i: [] for i in notification_ids}
    if not notification_ids:
        return result
    rows = session.execute(
        select(NotificationDelivery.notification_id, NotificationDelivery.user_id)
        .where(NotificationDelivery.notification_id.in_(notification_ids),
               NotificationDelivery.channel == IN_APP)
    )
    for nid, uid in rows:
        result[nid].append(uid)
    return result


def visible_query(user):
    """Notifications `user` may see, with their read time: all for staff, theirs for residents."""
    if user.is_staff:
        return select(Notification, literal(None).label("read_at"))
    return (
        select(Notification, NotificationDelivery.read_at)
        .join(NotificationDelivery, NotificationDelivery.notification_id == Notification.id)
        .where(NotificationDelivery.user_id == user.id, NotificationDelivery.channel == IN_APP)
    )


def list_for(session, user, *, unread: bool | None = None, kind: str | None = None,
             after_id: int | None = None, before_id: int | None = None, limit: int = 50,
             newest_first: bool = True, wallet_id: int | None = None):
    """A page of (notification, read_at) for `user`; keyset paging by id."""
    query = visible_query(user)
    if unread and not user.is_staff:
        query = query.where(NotificationDelivery.read_at.is_(None))
    if kind:
        query = query.where(Notification.type == kind)
    if wallet_id is not None:
        query = query.where(Notification.wallet_id == wallet_id)
    if after_id is not None:
        query = query.where(Notification.id > after_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    order = Notification.id.desc() if newest_first else Notification.id.asc()
    return list(session.execute(query.order_by(order).limit(limit)))


def unread_count(session, user) -> int:
    """How many in-app notifications `user` has not read (always 0 for staff)."""
    if user.is_staff:
        return 0
    return session.scalar(
        select(func.count()).select_from(NotificationDelivery)
        .where(NotificationDelivery.user_id == user.id, NotificationDelivery.channel == IN_APP,
               NotificationDelivery.read_at.is_(None))
    ) or 0


def get_for(session, user, notification_id: int):
    """(notification, read_at) if `user` may see it, else NotFound."""
    row = session.execute(visible_query(user).where(Notification.id == notification_id)).first()
    if row is None:
        raise NotFound("No such notification.")
    return row


def mark_read(session, user, notification_id: int, now: datetime):
    """Mark one notification read for `user`; staff have no read state, so it is a no-op."""
    get_for(session, user, notification_id)
    if not user.is_staff:
        session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.notification_id == notification_id,
                   NotificationDelivery.user_id == user.id,
                   NotificationDelivery.read_at.is_(None))
            .values(read_at=now)
        )
    return get_for(session, user, notification_id)


def mark_all_read(session, user, now: datetime) -> int:
    """Mark every unread notification of `user` read; returns how many changed."""
    if user.is_staff:
        return 0
    result = session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.user_id == user.id, NotificationDelivery.channel == IN_APP,
               NotificationDelivery.read_at.is_(None))
        .values(read_at=now)
    )
    return result.rowcount or 0


def resolve_credit_alerts(session, wallet_id: int, now: datetime) -> list[int]:
    """Mark the wallet's open low/critical alerts resolved; returns their ids."""
    open_alert = and_(Notification.wallet_id == wallet_id, Notification.resolved_at.is_(None),
                      Notification.type.in_(("low_credit", "critical_credit")))
    ids = list(session.scalars(select(Notification.id).where(open_alert)))
    if ids:
        session.execute(update(Notification).where(Notification.id.in_(ids))
                        .values(resolved_at=now))
    return ids
