"""The operators' notifications log: every notification, filtered, searched and paged.

Each row links to its wallet and to the run (or transaction) that made it. The first page
refreshes itself when a notification arrives; older pages stay still while being read.
"""
from __future__ import annotations

from flask import Blueprint, request

from ..db import Session
from ..services.channels import log as channel_log
from ..services.errors import ValidationFailed
from ..services.ids import parse_id
from ..services.notifications import log as notification_log
from ..services.wallets import estates
from .access import staff_required
from .forms import LogFilterForm
from .fragments import page_or_fragment, tz

bp = Blueprint("notifications_log", __name__, url_prefix="/notifications")
PAGE_SIZE = 25


@bp.get("")
@staff_required
def index():
    """?type=&priority=&date=&estate=&read=&q=&wallet=&run=&before= (all optional).

    Bad filters come back beside their fields with 422 rather than as an error page, so the
    person can fix them where they typed them.
    """
    form = LogFilterForm(request.args, estates=estates.list_estates(Session))
    try:
        filters = notification_log.parse_filters(form.values())
    except ValidationFailed as exc:
        form.refuse(exc)
        filters = notification_log.LogFilters()
    before = request.args.get("before", "")
    before_id = parse_id(before)
    rows, next_cursor = notification_log.query_log(Session, filters, tz=tz(),
                                                   before_id=before_id, limit=PAGE_SIZE)
    return page_or_fragment(
        "notifications/index.html", "notifications/_log.html", form.status,
        rows=rows, info=notification_log.row_info(Session, rows), filters=filters,
        deliveries=channel_log.of_notifications(Session, [n.id for n in rows]),
        args=filters.args(), form=form, before=before_id, next_cursor=next_cursor)
