"""What every API route needs: the caller and role checks, query arguments, list envelopes.

The role decorators record the refusals they add (`view.refusals`), so the OpenAPI document
lists exactly the statuses a route's checks can answer.
"""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_login import current_user

from ..routing import ID_CONVERTER
from ..services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from ..services.ids import MAX_ID, parse_id

# Route converter for ids: ASCII digits up to MAX_ID. A longer id matches no route, so it is
# a 404 like any other id that does not exist (it once reached the driver: an OverflowError).
ID = ID_CONVERTER
VIEWER_REFUSAL = "Viewers can look but not change anything."


class Unauthorized(ServiceError):
    """No valid session or bearer token."""

    status = 401
    code = "unauthorized"


def _refuses(wrapper, view, *statuses: int):
    """Record on `wrapper` the statuses it adds to those of `view`."""
    wrapper.refusals = frozenset(getattr(view, "refusals", ())) | set(statuses)
    return wrapper


def signed_in(view):
    """The route needs a signed-in user (session or bearer token)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        """401 for anonymous callers."""
        if not current_user.is_authenticated:
            raise Unauthorized("Sign in or send a bearer token.")
        return view(*args, **kwargs)

    return _refuses(wrapper, view, 401)


def staff_only(view):
    """Operators and viewers; residents get 404 (they must not learn the route exists)."""

    @signed_in
    @wraps(view)
    def wrapper(*args, **kwargs):
        """404 for residents."""
        if not current_user.is_staff:
            raise NotFound("Not found.")
        return view(*args, **kwargs)

    return _refuses(wrapper, view, 401, 404)


def operator_only(view):
    """Actions: operators only; viewers get 403, residents 404."""

    @staff_only
    @wraps(view)
    def wrapper(*args, **kwargs):
        """403 for viewers."""
        if not current_user.is_operator:
            raise Forbidden(VIEWER_REFUSAL)
        return view(*args, **kwargs)

    return _refuses(wrapper, view, 401, 403, 404)


def refuse_viewers() -> None:
    """Forbidden for a viewer (call after the lookup, so a missing thing is still a 404)."""
    if current_user.role == "viewer":
        raise Forbidden(VIEWER_REFUSAL)


def bool_arg(name: str) -> bool | None:
    """A `true` / `false` query argument (absent or empty: None), as the document says."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValidationFailed(f"Invalid {name}.", fields={name: "Use true or false."})


def int_arg(name: str) -> int | None:
    """A non-negative integer query argument (absent: None)."""
    value = request.args.get(name)
    if value in (None, ""):
        return None
    # ASCII digits: str.isdigit() is also true for "²", on which int() raised (a 500).
    number = parse_id(value)
    if number is None:
        raise ValidationFailed(f"Invalid {name}.", fields={
            name: f"Use a whole number from 0 to {MAX_ID}."})
    return number


def listing(items: list, next_cursor: str | int | None = None) -> dict:
    """The list envelope: {items, next_cursor} (a cursor is always text)."""
    return {"items": items, "next_cursor": None if next_cursor is None else str(next_cursor)}
