"""The operators' Deliveries page: every email and SMS, newest first, filtered by channel and
status, keyset-paged; Retry on a failed one. The first page refreshes itself when a
delivery changes (the live `delivery` event); older pages stay still while being read."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from sqlalchemy import select

from .. import dispatch, events
from ..db import Session, write_transaction
from ..models import User
from ..routing import ID_CONVERTER
from ..services.channels import delivery, log
from ..services.errors import Unavailable, ValidationFailed
from ..services.ids import parse_id
from .access import operator_required, staff_required
from .forms.channels import CHANNEL_TITLES, STATUS_NAMES, DeliveryFilterForm
from .fragments import fragment_requested, page_or_fragment

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")
PAGE_SIZE = 50


def _context(form, before_id: int | None, message: str | None = None) -> dict:
    """The table for the form's filters (bad filters are named on the form and ignored)."""
    try:
        channel, status = log.parse_filters(form.channel.data, form.state.data)
    except ValidationFailed as exc:
        form.refuse(exc)
        channel = status = None
    rows, next_cursor = log.list_deliveries(Session, channel=channel, status=status,
                                            before_id=before_id, limit=PAGE_SIZE)
    ids = {d.user_id for d in rows}
    names = {u.id: u.display_name for u in Session.scalars(select(User).where(
        User.id.in_(ids)))} if ids else {}
    return {"rows": rows, "form": form, "before": before_id, "next_cursor": next_cursor,
            "args": {k: v for k, v in (("channel", channel), ("status", status)) if v},
            "recipients": names, "channel_names": CHANNEL_TITLES, "status_names": STATUS_NAMES,
            "message": message}


@bp.get("")
@staff_required
def index():
    """?channel=&status=&before= (all optional)."""
    form = DeliveryFilterForm(request.args)
    context = _context(form, parse_id(request.args.get("before", "")))
    return page_or_fragment("deliveries/index.html", "deliveries/_table.html", form.status,
                            **context)


@bp.post(f"/<{ID_CONVERTER}:delivery_id>/retry")
@operator_required
def retry(delivery_id: int):
    """Send a failed delivery again (409 for any other, as the API answers)."""
    with write_transaction(Session):
        row = delivery.retry(Session, delivery_id)
    events.publish_deliveries(Session, [row.id])
    try:
        dispatch.send("send_deliveries", queue="deliveries", channel=row.channel)
    except Unavailable:
        pass  # pending in the database: the sweep sends it once the broker is back
    message = f"Delivery {row.id} will be sent again."
    filters = {k: v for k, v in request.form.items() if k in ("channel", "status") and v}
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".index", **filters), 303)
    context = _context(DeliveryFilterForm(request.form), None, message)
    return make_response(render_template("deliveries/_table.html", **context),
                         trigger="delivery-updated")
