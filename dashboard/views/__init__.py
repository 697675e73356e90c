"""Server-rendered pages: the operator dashboard and the resident pages."""
from __future__ import annotations

from flask import Flask

from .context import register_context


def register_views(app: Flask) -> None:
    """Register every page blueprint and the template helpers."""
    from . import notifications_log, overview, resident, scans, thresholds, wallets

    register_context(app)
    for module in (overview, wallets, scans, notifications_log, thresholds, resident):
        app.register_blueprint(module.bp)
