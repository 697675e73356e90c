"""Deliveries by email and SMS: a notification's (operators; a resident their own), every
one filtered by channel and status (operators), and Retry for a failed one."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from .. import dispatch, events
from ..db import Session, write_transaction
from ..models import CHANNELS, DELIVERY_STATUSES
from ..services.channels import delivery, log
from ..services.errors import Unavailable
from ..services.wallets import parse_cursor_id, parse_limit
from .helpers import listing, operator_only, signed_in, staff_only
from .schemas import COUNT, ID_CURSOR, INTEGER, LIMIT, TEXT, TIME, enum, nullable, obj
from .spec import query, route

DELIVERY = obj({
    "id": INTEGER, "notification_id": INTEGER, "user_id": INTEGER, "channel": enum(CHANNELS),
    "address": nullable(TEXT), "status": enum(DELIVERY_STATUSES), "attempts": COUNT,
    "error": nullable(TEXT), "held_until": nullable(TIME), "sent_at": nullable(TIME),
    "created_at": TIME})
ITEMS = obj({"items": {"type": "array", "items": DELIVERY}})
PAGE = obj({"items": {"type": "array", "items": DELIVERY},
            "next_cursor": nullable({"type": "string", "description":
                                     "Pass as ?cursor= for the next page; null on the last."})})


@route("GET", "/notifications/{notification_id}/deliveries",
       summary="A notification's deliveries (residents: their own)", answers={200: ITEMS})
@signed_in
def notification_deliveries(notification_id: int):
    """In-app, email and SMS deliveries of one notification."""
    rows = log.of_notification(Session, current_user, notification_id)
    return jsonify(items=[log.delivery_json(d) for d in rows])


@route("GET", "/deliveries", summary="Deliveries, newest first (operators)",
       params=[query("channel", enum(CHANNELS), "Email and SMS unless one is named."),
               query("status", enum(DELIVERY_STATUSES)), LIMIT, ID_CURSOR],
       answers={200: PAGE},
       links={200: {"Retry": {"operationId": "retry_delivery", "parameters": {
           "delivery_id": "$response.body#/items/0/id"}}}})
@staff_only
def list_deliveries():
    """?channel=&status=&limit=&cursor= (cursor: the last id of the previous page)."""
    channel, status = log.parse_filters(request.args.get("channel"), request.args.get("status"))
    rows, next_cursor = log.list_deliveries(
        Session, channel=channel, status=status,
        before_id=parse_cursor_id(request.args.get("cursor")),
        limit=parse_limit(request.args.get("limit")))
    return jsonify(listing([log.delivery_json(d) for d in rows], next_cursor))


@route("POST", "/deliveries/{delivery_id}/retry", summary="Send a failed delivery again",
       answers={200: DELIVERY}, refusals=(409,),
       description="Operators; 409 unless the delivery is failed.")
@operator_only
def retry_delivery(delivery_id: int):
    """A failed delivery goes back to pending, from its first attempt."""
    with write_transaction(Session):
        row = delivery.retry(Session, delivery_id)
    events.publish_deliveries(Session, [row.id])
    try:
        dispatch.send("send_deliveries", queue="deliveries", channel=row.channel)
    except Unavailable:
        pass  # pending in the database: the sweep sends it once the broker is back
    return jsonify(log.delivery_json(row))
