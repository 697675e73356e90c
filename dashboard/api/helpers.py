"""What every API route needs: the caller, role checks, the JSON body, list envelopes."""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_login import current_user

from ..routing import ID_CONVERTER
from ..services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from ..services.ids import MAX_ID, parse_id

# Route converter for ids: Werkzeug's plain `int` accepts any length, and an id beyond 64 bits
# made the database driver raise OverflowError (a 500). With a bound it is a 404 like any
# other id that does not exist.
ID = ID_CONVERTER


class Unauthorized(ServiceError):
    """No valid session or bearer token."""

    status = 401
    code = "unauthorized"


def signed_in(view):
    """The route needs a signed-in user (session or bearer token)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        """401 for anonymous callers."""
        if not current_user.is_authenticated:
            raise Unauthorized("Sign in or send a bearer token.")
        return view(*args, **kwargs)

    return wrapper


def staff_only(view):
    """Operators and viewers; residents get 404 (they must not learn the route exists)."""

    @signed_in
    @wraps(view)
    def wrapper(*args, **kwargs):
        """404 for residents."""
        if not current_user.is_staff:
            raise NotFound("Not found.")
        return view(*args, **kwargs)

    return wrapper


def operator_only(view):
    """Actions: operators only; viewers get 403, residents 404."""

    @staff_only
    @wraps(view)
    def wrapper(*args, **kwargs):
        """403 for viewers."""
        if not current_user.is_operator:
            raise Forbidden("Viewers can look but not change anything.")
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict:
    """The request's JSON object; 400/415 with a message when it is missing or malformed."""
    if not request.is_json:
        raise ServiceError("Send a JSON body with Content-Type: application/json.",
                           code="unsupported_media_type")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError("The body must be a JSON object.", code="bad_json")
    return data


def require(data: dict, *names: str) -> None:
    """ValidationFailed naming every missing field."""
    missing = {n: "This field is required." for n in names if data.get(n) in (None, "")}
    if missing:
        raise ValidationFailed("Some fields are missing.", fields=missing)


def bool_arg(name: str) -> bool | None:
    """A true/false query argument (absent: None)."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
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


def listing(items: list, next_cursor: str | None = None) -> dict:
    """The list envelope: {items, next_cursor}."""
    return {"items": items, "next_cursor": next_cursor}
