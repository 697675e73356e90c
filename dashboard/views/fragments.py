"""Helpers every page blueprint shares: page or fragment from one route, the local zone."""
from __future__ import annotations

from flask import current_app, render_template

from ..extensions import htmx


def fragment_requested() -> bool:
    """An htmx request for a widget; a history restore after a cache miss needs the page."""
    return bool(htmx) and not htmx.history_restore_request


def page_or_fragment(page: str, fragment: str, status: int = 200, /, **context):
    """The widget alone for htmx, else the whole page around it (one rendering path)."""
    return render_template(fragment if fragment_requested() else page, **context), status


def tz() -> str:
    """The local time zone pages show and scans are scheduled in."""
    return current_app.config["CELERY_TIMEZONE"]
