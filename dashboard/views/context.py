"""Template filters and globals: money, local times, labels, the signed-in user's badge."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, select

from ..db import Session
from ..models import Notification
from ..services import notifications
from ..services.money import format_rand
from . import labels


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time shown in CELERY_TIMEZONE."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["CELERY_TIMEZONE"])).strftime(fmt)


def register_context(app) -> None:
    """Make the helpers available to every template."""
    app.jinja_env.filters["rand"] = format_rand
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["labels"] = labels  # the names of methods, modes, priorities...

    @app.context_processor
    def _globals():
        """The CSRF token, the unread count and the last notification id for live.js."""
        values = {"csrf_token": generate_csrf, "tz_name": app.config["CELERY_TIMEZONE"]}
        if current_user.is_authenticated:
            values["unread_count"] = notifications.unread_count(Session, current_user)
            if current_user.is_staff:
                values["last_notification_id"] = Session.scalar(
                    select(func.max(Notification.id))) or 0
            else:
                rows = notifications.list_for(Session, current_user, limit=1)
                values["last_notification_id"] = rows[0][0].id if rows else 0
            last = values["last_notification_id"]
            # Where live.js's first sync starts: the newest id shown, unless a lower one may
            # still commit (services/notifications/cursor.py). Asked only by full pages.
            values["sync_after"] = lambda: notifications.resume_after(
                0, last, notifications.settled_id(Session))
        return values
