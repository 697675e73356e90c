"""POST /api/v1/auth/token: a bearer token for the mobile app and scripts."""
from __future__ import annotations

from flask import jsonify

from .. import auth as web_auth
from ..services.errors import ServiceError
from . import bp
from .helpers import Unauthorized, json_body, require


class RateLimited(ServiceError):
    """Too many attempts."""

    status = 429
    code = "rate_limited"


@bp.post("/auth/token")
def auth_token():
    """Exchange email and password for a token: 200, 401 on bad credentials, 429 when limited."""
    data = json_body()
    require(data, "email", "password")
    email, password = data["email"], data["password"]
    if not isinstance(email, str) or not isinstance(password, str):
        raise Unauthorized("That email and password do not match an account.")
    if web_auth.rate_limited(email):
        raise RateLimited("Too many sign-in attempts. Wait a few minutes and try again.")
    user = web_auth.authenticate(email, password)
    if user is None:
        raise Unauthorized("That email and password do not match an account.")
    return jsonify(token=web_auth.issue_token(user),
                   user={"id": user.id, "email": user.email, "role": user.role})
