"""Server-rendered pages: sign-in, the operator dashboard and the resident pages."""
from __future__ import annotations

from flask import Flask

from .context import register_context


def register_views(app: Flask) -> None:
    """Register every page blueprint and the template helpers."""
    from . import (
        notifications_log,
        overview,
        resident,
        scans,
        sign_in,
        thresholds,
        wallets,
        webhooks,
    )

    register_context(app)
    for module in (sign_in, overview, wallets, scans, notifications_log, thresholds, webhooks,
                   resident):
        app.register_blueprint(module.bp)
