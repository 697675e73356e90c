"""Who is signed in: sign-in sessions, bearer tokens, checking credentials under the sign-in
limits, and where a sign-in may go next. The pages are in dashboard/views/sign_in.py.

A browser session is a row of user_sessions (services/accounts/sessions.py) named by a
random token in the signed session cookie; every request checks it, so signing out (or a
password change, disabling, revoking) ends every copy of the cookie at once. API tokens are
signed and carry the account's token_version, which those same actions bump.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask_login import login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from . import events
from .db import Session
from .extensions import login
from .models import User, utcnow
from .redis_client import get_redis
from .services import accounts
from .services.accounts import sessions as login_sessions
from .services.demo.seed import DEMO_LOGINS

log = logging.getLogger(__name__)

LOGIN_KEY = "login"  # the session cookie's sign-in token
_limiter = accounts.SignInLimiter()  # one per process: its fallback counters are the process's


def init_app(app) -> None:
    """Nothing to bind today; kept so create_app reads as a list of calls."""


def now() -> datetime:
    """The time sessions are judged by: the app's CLOCK when a test sets one, else now."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else utcnow()


def lifetimes() -> login_sessions.Lifetimes:
    """The idle and absolute lifetimes of sessions (SESSION_* settings)."""
    cfg = current_app.config
    idle = timedelta(seconds=cfg["SESSION_IDLE_SECONDS"])
    return login_sessions.Lifetimes(idle=idle,
                                    absolute=timedelta(seconds=cfg["SESSION_ABSOLUTE_SECONDS"]),
                                    touch=min(timedelta(seconds=60), idle / 10))


def _forget_session() -> None:
    """Drop a dead session's sign-in from the cookie (the browser's copy is cleaned too)."""
    for key in ("_user_id", "_fresh", "_id", LOGIN_KEY, "token_version"):
        session.pop(key, None)


@login.user_loader
def load_user(user_id: str) -> User | None:
    """Flask-Login: the user of a session cookie, while its sign-in session is valid.

    Valid means its row has not ended or expired, the account is active and its
    token_version is the one at sign-in (services/accounts/sessions.py).
    """
    checked = login_sessions.check(Session, session.get(LOGIN_KEY), now=now(),
                                   lifetimes=lifetimes())
    if checked is None or str(checked.user.id) != str(user_id) \
            or session.get("token_version", 0) != checked.user.token_version:
        _forget_session()
        return None
    g.login_session_id = checked.login.id
    return checked.user


def current_login_id() -> int | None:
    """The id of the sign-in session of this request's cookie (None for bearer tokens)."""
    return g.get("login_session_id")


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


# -- signing in and out ----------------------------------------------------------------------

@dataclass(frozen=True)
class SignIn:
    """The outcome of checking credentials: the user, or None (refused, or limited with a
    wait of `retry_after` seconds)."""

    user: User | None
    retry_after: int = 0

    @property
    def limited(self) -> bool:
        """Refused by a sign-in limit before the password was looked at."""
        return self.retry_after > 0


def policy() -> accounts.Policy:
    """The sign-in limits (LOGIN_* settings)."""
    cfg = current_app.config
    return accounts.Policy(account_free=cfg["LOGIN_ACCOUNT_FREE"],
                           account_delay=cfg["LOGIN_ACCOUNT_DELAY"],
                           account_max_delay=cfg["LOGIN_ACCOUNT_MAX_DELAY"],
                           address_limit=cfg["LOGIN_RATE_LIMIT"],
                           address_window=cfg["LOGIN_RATE_WINDOW"],
                           scope=cfg["SOCKETIO_CHANNEL"])


def refused_emails() -> frozenset[str]:
    """Accounts that may not sign in here: the demo logins, in production."""
    return frozenset(DEMO_LOGINS) if current_app.config.get("ENV_NAME") == "production" \
        else frozenset()


def check_credentials(email, password) -> SignIn:
    """The sign-in form's and the token endpoint's one check: the limits, then the password.

    An unknown email, a wrong password and a disabled account all do the same work and get
    the same answer (services/accounts/users.py authenticate).
    """
    client = get_redis()
    attempt = _limiter.attempt(client, email if isinstance(email, str) else "",
                               request.remote_addr, policy())
    if not attempt.decision.allowed:
        return SignIn(None, max(1, attempt.decision.retry_after))
    user = accounts.authenticate(Session, email, password, refused_emails=refused_emails())
    if user is not None:
        _limiter.succeeded(client, attempt)
    return SignIn(user)


def sign_in(user: User) -> None:
    """Start a sign-in session for `user` in a fresh cookie."""
    session.clear()  # nothing from before the sign-in rides along
    token, row = login_sessions.start(Session, user, now=now(), address=request.remote_addr,
                                      user_agent=request.user_agent.string)
    login_user(user)
    session[LOGIN_KEY] = token
    session["token_version"] = user.token_version
    g.login_session_id = row.id


def sign_out() -> None:
    """End this browser's sign-in session everywhere, and close its open sockets."""
    login_id = current_login_id()
    if login_id is not None:
        login_sessions.end(Session, [login_id], login_sessions.SIGNED_OUT, now=now())
        events.close_sockets(sessions=[login_id])
    logout_user()
    session.clear()


def keep_signed_in(user: User) -> None:
    """Keep this browser's session across a change of the account's token_version (an
    operator who set their own password stays signed in here, and only here)."""
    session["token_version"] = user.token_version


def after_account_change(change: accounts.AccountChange) -> None:
    """Close the open sockets of an account that lost access (after the service's commit)."""
    if change.close_sockets:
        events.close_sockets(users=[change.user_id], sessions=change.ended_sessions)


# -- where to go after signing in ------------------------------------------------------------

def safe_next(target) -> str | None:
    """`target` when it is a page of this site a signed-in person may open (a GET route,
    not the API), else None: the caller sends them home."""
    path = accounts.safe_path(target)
    if path is None or path.startswith(("/api/", "/socket.io")):
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path.split("?", 1)[0], method="GET")
    except RequestRedirect:
        return path  # /wallets -> /wallets/: Flask redirects on its own
    except HTTPException:
        return None
    return path
