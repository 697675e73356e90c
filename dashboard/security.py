"""Request-wide protections: CSRF for browser sessions, security headers, Vary for htmx."""
from __future__ import annotations

from flask import request, session
from flask_login import current_user

from .errors import error_response
from .extensions import csrf

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# Only our own scripts and styles; websockets back to us; no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


def uses_bearer_token() -> bool:
    """API calls authenticated by a bearer token carry no cookie, so CSRF cannot apply."""
    return request.headers.get("Authorization", "").startswith("Bearer ")


def init_app(app) -> None:
    """Register the CSRF check and the response headers."""

    @app.before_request
    def _refuse_nul_characters():
        """No field may hold a NUL character: PostgreSQL cannot store one (a 500 there), and no
        name, amount or search needs it. Refused up front, for every form, query and body."""
        values = [*request.args.values(), *request.form.values()]
        if any("\x00" in v for v in values) or (
                request.is_json and b"\\u0000" in request.get_data(cache=True)):
            return error_response(400, "Text may not contain NUL characters.", code="bad_text")
        return None

    @app.before_request
    def _check_csrf():
        """Every unsafe request on a cookie session must carry the CSRF token."""
        if request.method not in UNSAFE_METHODS:
            return
        # Getting a token needs no session, so there is nothing for a forged request to ride on.
        # The payment provider's webhook is authenticated by its signature alone and never
        # reads the session (api/payments.py), so a cookie gives a forged request nothing.
        if request.endpoint in ("api.auth_token", "api.payment_webhook"):
            return
        # A signed-in browser session always needs the token, whatever else the request
        # carries: an `Authorization: Bearer <junk>` header used to switch the check off while
        # the cookie still signed the request in
        # (tests/test_security.py::test_a_session_cannot_skip_csrf_by_adding_a_bearer_header).
        if "_user_id" in session:
            csrf.protect()
            return
        # Bearer-token calls carry no cookie, so a forged request has nothing to ride on.
        if uses_bearer_token():
            return
        # An anonymous API call has no session to ride on: let the route answer 401.
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return
        csrf.protect()

    @app.after_request
    def _headers(response):
        """Security headers on everything; Vary so caches keep pages and fragments apart."""
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            # Production is HTTPS-only (Secure cookies): browsers must not try plain http.
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
