"""POST /api/v1/auth/token: a bearer token for the mobile app and scripts."""
from __future__ import annotations

from flask import jsonify

from .. import auth as web_auth
from ..errors import error_response
from .helpers import Unauthorized
from .schemas import ref
from .spec import NO_NUL, Body, Field, route

TEXT_IN = {"type": "string", "minLength": 1, "pattern": NO_NUL}
TOKEN_BODY = Body(email=Field({**TEXT_IN, "example": "operator@example.com"}, required=True),
                  password=Field({**TEXT_IN, "format": "password"}, required=True))
BAD_CREDENTIALS = "That email and password do not match an account."
LIMITED = "Too many sign-in attempts. Wait {wait} seconds and try again."


@route("POST", "/auth/token", summary="Exchange email and password for a bearer token",
       body=TOKEN_BODY, answers={200: ref("Token")}, refusals=(401, 429), public=True,
       description="401 on bad credentials, the same whether or not the email has an "
                   "account; 429 with Retry-After when a sign-in limit is reached: "
                   "LOGIN_RATE_LIMIT failed attempts per LOGIN_RATE_WINDOW seconds from one "
                   "address, or growing delays after LOGIN_ACCOUNT_FREE failed attempts for "
                   "one email from anywhere.")
def auth_token():
    """Exchange email and password for a token: 200, 401 on bad credentials, 429 when limited."""
    data = TOKEN_BODY.read()
    result = web_auth.check_credentials(data["email"], data["password"])
    if result.limited:
        body, status = error_response(429, LIMITED.format(wait=result.retry_after),
                                      code="rate_limited")
        return body, status, {"Retry-After": str(result.retry_after)}
    if result.user is None:
        raise Unauthorized(BAD_CREDENTIALS)
    user = result.user
    return jsonify(token=web_auth.issue_token(user),
                   user={"id": user.id, "email": user.email, "role": user.role})
