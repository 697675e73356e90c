"""Reading notifications back: what a user may see, their unread count, marking read."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, literal, select, update

from ...models import STAFF_ROLES, Notification, NotificationDelivery, User
from ..errors import NotFound
from .store import IN_APP


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


UNREAD_BATCH = 1000  # user ids per GROUP BY: well inside every driver's parameter limit
# Built once (it runs after every notification published): the users are bound per call.
UNREAD_COUNTS = (
    select(NotificationDelivery.user_id, func.count())
    .join(User, User.id == NotificationDelivery.user_id)
    .where(NotificationDelivery.user_id.in_(bindparam("user_ids", expanding=True)),
           NotificationDelivery.channel == IN_APP, NotificationDelivery.read_at.is_(None),
           User.role.not_in(STAFF_ROLES))
    .group_by(NotificationDelivery.user_id))


def unread_counts(session, user_ids: Iterable[int]) -> dict[int, int]:
    """How many in-app notifications each user has not read: {user_id: count} for every id
    given (0 for none, and always 0 for staff, who have no read state). One GROUP BY per
    UNREAD_BATCH ids, whatever the number of users."""
    ids = sorted(set(user_ids))
    counts = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), UNREAD_BATCH):
        counts.update(session.execute(
            UNREAD_COUNTS, {"user_ids": ids[start:start + UNREAD_BATCH]}).all())
    return counts


def unread_count(session, user) -> int:
    """How many in-app notifications `user` has not read (always 0 for staff)."""
    if user.is_staff:
        return 0  # no query: staff connect and load pages often
    return unread_counts(session, [user.id])[user.id]


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
