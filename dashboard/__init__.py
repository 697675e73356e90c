"""Quantify Notify: the web application (dashboard, resident pages, API and Socket.IO).

Importing this package imports nothing else: the worker and the command line use its
services and models without loading Flask (create_app brings in the web).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(config_name: str | None = None, **overrides) -> Flask:
    """Build the Flask app: configuration, database, extensions, blueprints, Socket.IO."""
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from config import get_config

    from . import auth, errors, logs, ops, routing, security, sockets
    from .api import bp as api_bp
    from .db import Session, init_engine
    from .extensions import csrf, htmx, login, socketio
    from .views import register_views

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(get_config(config_name))
    app.config.update(overrides)

    if app.config.get("TRUST_PROXY"):
        # Behind nginx: take the client address and scheme from X-Forwarded-* (one hop).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    init_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(lambda _exc: Session.remove())

    login.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        channel=app.config["SOCKETIO_CHANNEL"],
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        ping_interval=app.config["SOCKETIO_PING_INTERVAL"],
        ping_timeout=app.config["SOCKETIO_PING_TIMEOUT"],
        cors_allowed_origins=app.config.get("SOCKETIO_CORS_ORIGINS"),
    )

    logs.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    routing.init_app(app)  # before the blueprints: their rules use the id converter
    app.register_blueprint(api_bp)
    app.register_blueprint(ops.bp)
    register_views(app)
    sockets.register(socketio)
    _say_which_channels_are_off(app)
    return app


def _say_which_channels_are_off(app: Flask) -> None:
    """A log line at start for each outside channel without a URL (its deliveries are
    suppressed); /readyz and the overview say it too."""
    from .services.channels.status import unconfigured

    if app.config.get("TESTING"):
        return
    for line in unconfigured({"email": app.config.get("EMAIL_URL"),
                              "sms": app.config.get("SMS_URL")}):
        app.logger.warning(line)
