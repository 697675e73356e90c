"""Who is signed in: the session and bearer-token loaders, API tokens, checking a password and
the sign-in rate limit. The sign-in pages themselves are in dashboard/views/sign_in.py."""
from __future__ import annotations

import logging

import redis
from flask import (
    current_app,
    request,
    session,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from .db import Session
from .extensions import login
from .models import User
from .redis_client import get_redis

log = logging.getLogger(__name__)


def init_app(app) -> None:
    """Nothing to bind today; kept so create_app reads as a list of calls."""


@login.user_loader
def load_user(user_id: str) -> User | None:
    """Flask-Login: the signed-in user of a session cookie, unless revoked since sign-in.

    The session remembers the account's token_version at sign-in; bumping it (disabling,
    password change) ends every session and token of the account at once.
    """
    try:
        user = Session.get(User, int(user_id))
    except ValueError:
        return None
    if user is None or session.get("token_version", 0) != user.token_version:
        return None
    return user


@login.request_loader
def load_user_from_request(req) -> User | None:
    """Flask-Login: the user of an `Authorization: Bearer <token>` header, if valid."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return user_for_token(header[len("Bearer "):].strip())


def _serializer() -> URLSafeTimedSerializer:
    """Signs API tokens with the app secret."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="api-token")


def issue_token(user: User) -> str:
    """A signed bearer token for `user`, valid for API_TOKEN_MAX_AGE seconds."""
    return _serializer().dumps({"uid": user.id, "v": user.token_version})


def user_for_token(token: str) -> User | None:
    """The active user a token names, or None when it is forged, expired or revoked."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["API_TOKEN_MAX_AGE"])
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict):
        return None
    user = Session.get(User, data.get("uid")) if isinstance(data.get("uid"), int) else None
    if user is None or not user.active or user.token_version != data.get("v"):
        return None
    return user


def find_user_by_email(email: str) -> User | None:
    """Look a user up by email, ignoring case and surrounding spaces."""
    email = (email or "").strip().lower()
    return Session.scalars(select(User).where(func.lower(User.email) == email)).first()


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None."""
    user = find_user_by_email(email)
    if user is None or not user.active or not user.check_password(password or ""):
        return None
    return user


def rate_limited(email: str) -> bool:
    """Count a sign-in attempt for this email and address; True once over the limit.

    The counter lives in Redis so every web process shares it. If Redis is unreachable the
    attempt is allowed (sign-in must not depend on Redis) and the failure is logged.
    """
    limit = current_app.config["LOGIN_RATE_LIMIT"]
    window = current_app.config["LOGIN_RATE_WINDOW"]
    key = f"quantify:login:{(email or '').strip().lower()}:{request.remote_addr}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning("login rate limit unavailable: %s", exc)
        return False
    return int(count) > limit


def safe_next(target: str | None) -> str | None:
    """Only follow same-site relative redirects after sign-in."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None
