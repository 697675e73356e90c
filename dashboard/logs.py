"""Logging: one JSON object per line in production (LOG_FORMAT=json), plain text otherwise,
and one line per request with its method, path, status, duration and user."""
from __future__ import annotations

import json
import logging
import time

from flask import g, request
from flask_login import current_user


class JsonFormatter(logging.Formatter):
    """Log records as JSON, with any `extra=` fields kept."""

    RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON."""
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(fmt: str, level: str = "INFO") -> None:
    """Set up the root logger once per process."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # We log each request ourselves (below); werkzeug's access line would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def init_app(app) -> None:
    """Request logging."""
    configure(app.config.get("LOG_FORMAT", "text"), app.config.get("LOG_LEVEL", "INFO"))
    log = logging.getLogger("quantify.request")

    @app.before_request
    def _start_timer():
        """Remember when the request started."""
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        """One line per request (static files excluded: they are noise)."""
        if not request.path.startswith("/static/"):
            started = g.get("request_started", time.perf_counter())
            log.info("%s %s %s", request.method, request.path, response.status_code, extra={
                "method": request.method, "path": request.path, "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": current_user.get_id() if current_user else None,
                "remote_addr": request.remote_addr})
        return response
