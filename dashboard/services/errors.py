"""Errors that services raise: the kind of refusal, a stable code, a message and field messages.

The services say *what* was refused; the web layer (dashboard/errors.py) decides how that is
answered over HTTP (which status, the JSON body, an error page).
"""
from __future__ import annotations


class ServiceError(Exception):
    """A refusal a person can act on: a stable code, a message and field messages."""

    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None,
                 code: str | None = None):
        """`fields` maps a field name to what is wrong with it."""
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(ServiceError):
    """The request is well-formed but its values are not acceptable."""

    code = "validation_failed"


class Conflict(ServiceError):
    """The request clashes with the current state (insufficient funds, a scan already running)."""

    code = "conflict"


class NotFound(ServiceError):
    """No such thing, or not one the caller may see (residents get 404, never 403)."""

    code = "not_found"


class Forbidden(ServiceError):
    """The caller is known but may not do this (a viewer trying an action)."""

    code = "forbidden"


class Unavailable(ServiceError):
    """A dependency (Redis, the broker) is down; the request may be retried."""

    code = "unavailable"
