"""Deliveries as operators and residents see them: the Deliveries page and API (filtered by
channel and status, newest first, keyset-paged by id), a notification's deliveries, and the
JSON shape of one."""
from __future__ import annotations

from sqlalchemy import select

from ...models import CHANNELS, DELIVERY_STATUSES, NotificationDelivery, User
from ..errors import ValidationFailed
from ..notifications import get_for
from ..serialize import iso

D = NotificationDelivery


def delivery_json(d: NotificationDelivery) -> dict:
    """One delivery (DESIGN's fields)."""
    return {"id": d.id, "notification_id": d.notification_id, "user_id": d.user_id,
            "channel": d.channel, "address": d.address, "status": d.status,
            "attempts": d.attempts, "error": d.error, "held_until": iso(d.held_until),
            "sent_at": iso(d.sent_at), "created_at": iso(d.created_at)}


def parse_filters(channel, status) -> tuple[str | None, str | None]:
    """The channel and status filters, each optional; ValidationFailed naming a bad one."""
    channel, status = channel or None, status or None
    errors = {}
    if channel is not None and channel not in CHANNELS:
        errors["channel"] = f"Use one of: {', '.join(CHANNELS)}."
    if status is not None and status not in DELIVERY_STATUSES:
        errors["status"] = f"Use one of: {', '.join(DELIVERY_STATUSES)}."
    if errors:
        raise ValidationFailed("Some filters are not valid.", fields=errors)
    return channel, status


def list_deliveries(session, *, channel: str | None = None, status: str | None = None,
                    before_id: int | None = None, limit: int = 50
                    ) -> tuple[list[NotificationDelivery], int | None]:
    """A page of deliveries, newest first, and the cursor of the next page.

    Email and SMS by default; in-app rows (one per recipient of every notification, always
    `sent`) only when asked for by channel. The outside walks use the partial indexes
    (status, id) and (channel, status, id).
    """
    query = select(D)
    if channel == "in_app":
        query = query.where(D.channel == "in_app")
    else:
        query = query.where(D.channel != "in_app")
        if channel:
            query = query.where(D.channel == channel)
    if status:
        query = query.where(D.status == status)
    if before_id:
        query = query.where(D.id < before_id)
    rows = list(session.scalars(query.order_by(D.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def of_notification(session, user: User, notification_id: int) -> list[NotificationDelivery]:
    """A notification's deliveries: all of them for staff, a resident's own for a resident
    (NotFound when they may not see the notification at all)."""
    get_for(session, user, notification_id)
    query = select(D).where(D.notification_id == notification_id)
    if not user.is_staff:
        query = query.where(D.user_id == user.id)
    return list(session.scalars(query.order_by(D.channel, D.id)))


def of_notifications(session, ids: list[int]) -> dict[int, list[NotificationDelivery]]:
    """The email and SMS deliveries of a page of notifications (one query), for their rows."""
    found: dict[int, list[NotificationDelivery]] = {i: [] for i in ids}
    if ids:
        for d in session.scalars(select(D).where(D.notification_id.in_(ids),
                                                 D.channel != "in_app").order_by(D.id)):
            found[d.notification_id].append(d)
    return found
