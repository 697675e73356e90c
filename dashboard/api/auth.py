"""POST /api/v1/auth/token: a bearer token for the mobile app and scripts."""
from __future__ import annotations

from flask import jsonify

from .. import auth as web_auth
from ..services.errors import ServiceError
from .helpers import Unauthorized
from .schemas import ref
from .spec import NO_NUL, Body, Field, route

TEXT_IN = {"type": "string", "minLength": 1, "pattern": NO_NUL}
TOKEN_BODY = Body(email=Field({**TEXT_IN, "example": "operator@example.com"}, required=True),
                  password=Field({**TEXT_IN, "format": "password"}, required=True))
BAD_CREDENTIALS = "That email and password do not match an account."


class RateLimited(ServiceError):
    """Too many attempts."""

    status = 429
    code = "rate_limited"


@route("POST", "/auth/token", summary="Exchange email and password for a bearer token",
       body=TOKEN_BODY, answers={200: ref("Token")}, refusals=(401, 429), public=True,
       description="401 on bad credentials; 429 after too many attempts for one email and "
                   "address (LOGIN_RATE_LIMIT per LOGIN_RATE_WINDOW seconds).")
def auth_token():
    """Exchange email and password for a token: 200, 401 on bad credentials, 429 when limited."""
    data = TOKEN_BODY.read()
    email, password = data["email"], data["password"]
    if web_auth.rate_limited(email):
        raise RateLimited("Too many sign-in attempts. Wait a few minutes and try again.")
    user = web_auth.authenticate(email, password)
    if user is None:
        raise Unauthorized(BAD_CREDENTIALS)
    return jsonify(token=web_auth.issue_token(user),
                   user={"id": user.id, "email": user.email, "role": user.role})
