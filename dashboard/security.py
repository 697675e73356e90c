"""Request-wide protections: CSRF for browser sessions, security headers, Vary for htmx, and
JSON bodies of bounded depth (their size is bounded by MAX_CONTENT_LENGTH, see config.py)."""
from __future__ import annotations

import io

from flask import request, session
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user

from .errors import error_response
from .extensions import csrf

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# Only our own scripts and styles; websockets back to us; no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


#: The deepest JSON a request may send: our bodies nest two levels; a client nesting more is
#: broken or hostile. Deeper documents are refused as malformed (400), before Python's
#: recursion limit could turn them into a RecursionError (a 500).
MAX_JSON_DEPTH = 32


def json_depth(value) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), counted
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item)
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested more than MAX_JSON_DEPTH levels: a ValueError,
    which `request.get_json` answers as malformed JSON (400, or None when silent)."""

    def loads(self, s, **kwargs):
        """Parse, then check the depth; a document too deep for the parser is refused too."""
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            value = None
        else:
            if json_depth(value) <= MAX_JSON_DEPTH:
                return value
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")


class ChunkedBodyLimit:
    """WSGI middleware: a body sent in chunks (no Content-Length) is read here, up to one byte
    past MAX_CONTENT_LENGTH, and handed on with its length, so Werkzeug's own check answers a
    bigger one 413 like any other. Werkzeug alone stops reading such a body at the limit and
    hands on the first MAX_CONTENT_LENGTH bytes as if they were all of it: a form or JSON cut
    short would be read as complete (tests/test_body_limits.py)."""

    def __init__(self, wsgi_app, config):
        """Wrap `wsgi_app`; the limit is read from `config` at each request."""
        self.wsgi_app, self.config = wsgi_app, config

    def __call__(self, environ, start_response):
        """Buffer a chunked body (bounded), then call the app."""
        limit = self.config.get("MAX_CONTENT_LENGTH")
        # Werkzeug takes a body as chunked by this header, whatever Content-Length says.
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and chunked and environ.get("wsgi.input_terminated"):
            body = _read_upto(environ["wsgi.input"], limit + 1)
            environ = {**environ, "wsgi.input": io.BytesIO(body),
                       "CONTENT_LENGTH": str(len(body))}
            del environ["wsgi.input_terminated"], environ["HTTP_TRANSFER_ENCODING"]
        return self.wsgi_app(environ, start_response)


def _read_upto(stream, size: int) -> bytes:
    """Up to `size` bytes of a stream whose reads may return less than asked."""
    parts, got = [], 0
    while got < size:
        part = stream.read(min(size - got, 64 * 1024))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def uses_bearer_token() -> bool:
    """API calls authenticated by a bearer token carry no cookie, so CSRF cannot apply."""
    return request.headers.get("Authorization", "").startswith("Bearer ")


def init_app(app) -> None:
    """Register the bounded bodies, the CSRF check and the response headers."""
    app.json = BoundedJSONProvider(app)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config)

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
