"""Server-rendered pages: sign-in, the operator dashboard and the resident pages."""
from __future__ import annotations

from flask import Flask

from .context import register_context


def register_views(app: Flask) -> None:
    """Register every page blueprint and the template helpers (the Outbox only in development
    and testing, the test payment gateway only where PAYMENT_TEST_GATEWAY is on: never in
    production)."""
    from . import (
        contacts,
        deliveries,
        gateway,
        notifications_log,
        outbox,
        overview,
        resident,
        scans,
        settings,
        sign_in,
        thresholds,
        users,
        wallets,
        webhooks,
    )

    register_context(app)
    for module in (sign_in, overview, wallets, scans, notifications_log, thresholds, resident,
                   settings, deliveries, contacts, users, webhooks):
        app.register_blueprint(module.bp)
    if app.config.get("ENV_NAME") in outbox.ENVIRONMENTS:  # never in production
        app.register_blueprint(outbox.bp)
        app.jinja_env.globals["outbox_enabled"] = True
    if app.config.get("PAYMENT_TEST_GATEWAY"):
        gateway.register(app)
