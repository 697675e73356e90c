"""Errors that services raise and the web layer turns into 4xx answers."""
from __future__ import annotations


class ServiceError(Exception):
    """A refusal a person can act on: a status, a stable code, a message and field messages."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None,
                 code: str | None = None):
        """`fields` maps a field name to what is wrong with it."""
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code

    def to_dict(self) -> dict:
        """The API's error body: {"error": {"code", "message", "fields"?}}."""
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ValidationFailed(ServiceError):
    """The request is well-formed but its values are not acceptable."""

    status = 422
    code = "validation_failed"


class Conflict(ServiceError):
    """The request clashes with the current state (insufficient funds, a scan already running)."""

    status = 409
    code = "conflict"


class NotFound(ServiceError):
    """No such thing, or not one the caller may see (residents get 404, never 403)."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    """The caller is known but may not do this (a viewer trying an action)."""

    status = 403
    code = "forbidden"


class Unavailable(ServiceError):
    """A dependency (Redis, the broker) is down; the request may be retried."""

    status = 503
    code = "unavailable"
