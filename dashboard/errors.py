"""Error pages and API error bodies: every refusal is a 4xx with a message, never a 500."""
from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .db import is_transient
from .services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
         422: "validation_failed", 429: "rate_limited", 503: "unavailable"}
# How each kind of refusal the services raise is answered over HTTP. The services name the
# kind; the status is the web's business (a refusal with no entry here is a plain 400).
STATUSES = {ValidationFailed: 422, Conflict: 409, NotFound: 404, Forbidden: 403,
            Unavailable: 503}


def http_status(exc: ServiceError) -> int:
    """The status of a refusal; an error class of the web layer may name its own (401, 429)."""
    own = getattr(exc, "status", None)
    if own:
        return own
    return next((STATUSES[kind] for kind in type(exc).__mro__ if kind in STATUSES), 400)


def error_body(exc: ServiceError) -> dict:
    """The API's error body of a refusal: {"error": {"code", "message", "fields"?}}."""
    body = {"code": exc.code, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    return {"error": body}


def wants_json() -> bool:
    """API paths and clients that ask for JSON get JSON errors; people get a page."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str, *, code: str | None = None,
                   fields: dict | None = None):
    """A JSON error body or an error page, by what the client wants."""
    if wants_json():
        body = {"code": code or CODES.get(status, "error"), "message": message}
        if fields:
            body["fields"] = fields
        return jsonify(error=body), status
    return render_template("error.html", status=status, message=message), status


def size_text(limit: int) -> str:
    """A byte count as people read it: 1 MiB, 64 KiB, 1500 bytes."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


def init_app(app) -> None:
    """Register the handlers."""

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        """A body over MAX_CONTENT_LENGTH (or form fields over MAX_FORM_MEMORY_SIZE), refused
        before it is read to the end, whether it said its length or came in chunks."""
        limit = app.config.get("MAX_CONTENT_LENGTH")
        where = f": send at most {size_text(limit)}" if limit else ""
        return error_response(413, f"The request is too large{where}.", code="too_large")

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        """Refusals raised by the services."""
        return error_response(http_status(exc), exc.message, code=exc.code, fields=exc.fields)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        """A form or htmx request without a valid CSRF token."""
        return error_response(400, "The form has expired or lacks its security token. "
                                   "Reload the page and try again.", code="csrf_failed")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        """Werkzeug's errors (404, 405, 413...) in our shape, with their headers: a 405 must
        say in `Allow` which methods the resource has (RFC 9110)."""
        body, status = error_response(exc.code or 500, exc.description or exc.name)
        response = app.make_response((body, status))
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        """A busy database or an unreachable Redis is a 503 to retry; anything else is a bug."""
        if is_transient(exc):
            log.warning("transient failure: %s", exc)
            return error_response(503, "The service is busy. Please try again in a moment.",
                                  code="busy")
        if isinstance(exc, Unavailable):
            return error_response(503, str(exc), code="unavailable")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on our side.", code="internal")
