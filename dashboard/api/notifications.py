"""Notifications: residents see their own, operators and viewers see all."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from .. import events
from ..db import Session, write_transaction
from ..models import utcnow
from ..services import notifications
from ..services.errors import ValidationFailed
from ..services.ids import MAX_ID
from ..services.notifications.messages import TYPES
from ..services.serialize import notification_json
from ..services.wallets import parse_cursor_id, parse_limit
from .helpers import bool_arg, int_arg, listing, signed_in
from .schemas import COUNT, ID_CURSOR, LIMIT, enum, listing_of, obj, ref
from .spec import query, route

LIST_PARAMS = [
    query("unread", {"type": "boolean"}, "Only unread (true) or only read (false) ones."),
    query("type", enum(TYPES)),
    query("after_id", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
          "Catch up: the ones after this id, oldest first."),
    LIMIT, ID_CURSOR]


@route("GET", "/notifications", summary="Notifications (residents: their own; staff: all)",
       params=LIST_PARAMS, answers={200: listing_of("Notification")},
       links={200: {"MarkRead": {"operationId": "mark_read", "parameters": {
           "notification_id": "$response.body#/items/0/id"}}}})
@signed_in
def list_notifications():
    """Newest first: ?unread=&type=&after_id=&limit=&cursor=.

    With after_id the list runs oldest first from that id (catching up); otherwise the cursor
    is the last id of the previous page.
    """
    kind = request.args.get("type") or None
    if kind and kind not in TYPES:
        raise ValidationFailed("Invalid type.", fields={"type": f"Use one of: {', '.join(TYPES)}."})
    after_id, cursor = int_arg("after_id"), parse_cursor_id(request.args.get("cursor"))
    limit = parse_limit(request.args.get("limit"))
    catching_up = after_id is not None
    if catching_up and cursor is not None:
        # Oldest first: the next page starts after the cursor. (The cursor used to be applied
        # as "before", so following next_cursor re-listed the first page for ever.)
        after_id, cursor = max(after_id, cursor), None
    rows = notifications.list_for(Session, current_user, unread=bool_arg("unread"), kind=kind,
                                  after_id=after_id, before_id=cursor, limit=limit + 1,
                                  newest_first=not catching_up)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = rows[-1][0].id
    return jsonify(listing([notification_json(n, read_at) for n, read_at in rows], next_cursor))


@route("GET", "/notifications/unread-count", summary="The caller's unread count",
       answers={200: obj({"count": COUNT})})
@signed_in
def unread_count():
    """{count} of the caller's unread notifications."""
    return jsonify(count=notifications.unread_count(Session, current_user))


@route("POST", "/notifications/{notification_id}/read", summary="Mark one read",
       answers={200: ref("Notification")})
@signed_in
def mark_read(notification_id: int):
    """Mark one read; every tab of the user gets the new unread count."""
    with write_transaction(Session):
        n, read_at = notifications.mark_read(Session, current_user, notification_id, utcnow())
    events.publish_unread_counts(Session, [current_user.id])
    return jsonify(notification_json(n, read_at))


@route("POST", "/notifications/read-all", summary="Mark all read",
       answers={200: obj({"updated": COUNT, "count": {"type": "integer", "enum": [0]}})})
@signed_in
def mark_all_read():
    """Mark all read: {updated, count}."""
    with write_transaction(Session):
        changed = notifications.mark_all_read(Session, current_user, utcnow())
    events.publish_unread_counts(Session, [current_user.id])
    return jsonify(updated=changed, count=0)
