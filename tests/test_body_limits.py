"""Bodies that are too deep or too big: JSON nested 100,000 levels, bodies over
MAX_CONTENT_LENGTH with a Content-Length and in chunks without one. Every unsafe route of the
app (walked from `url_map`) answers a 4xx, never a 500 or a RecursionError: the API in its
error shape, the pages with a plain page."""
from __future__ import annotations

import io
import json
import re
import socket
import threading

import pytest
from flask import json as flask_json

from dashboard.api.spec import MAX_BODY_BYTES, OPERATIONS
from dashboard.models import utcnow
from dashboard.security import MAX_JSON_DEPTH, json_depth
from dashboard.services import payments
from tests import provider
from tests.test_security import UNSAFE, Site, csrf_identity

MIB = 1024 * 1024
SHAPES = {  # name: (opening, middle, closing) of one level
    "array": ("[", "", "]"),
    "object": ('{"a":', "1", "}"),
    "mixed": ('{"a":[', "1", "]}"),
}


def nested(shape: str, levels: int) -> bytes:
    """`levels` levels of the shape: [[[...]]], {"a":{"a":...}} or {"a":[{"a":[...]}]}."""
    opening, middle, closing = SHAPES[shape]
    return (opening * levels + middle + closing * levels).encode()


def fitting(shape: str, levels: int) -> int:
    """As many of `levels` as fit in the API's body limit (a deeper body is a 413 first)."""
    opening, _, closing = SHAPES[shape]
    return min(levels, (MAX_BODY_BYTES - 16) // (len(opening) + len(closing)))


def json_routes() -> set[tuple[str, str]]:
    """(METHOD, rule) of every API route that reads a JSON body, from the declarations."""
    return {(method.upper(), "/api/v1" + path.replace("{", "<").replace("}", ">"))
            for path, ops in OPERATIONS.items() for method, op in ops.items() if op.body}


@pytest.fixture(scope="module")
def site(redis_url, tmp_path_factory):
    """The security matrix's site: every kind of row, each identity signed in."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config, fast_database, private_broker_url

    url = fast_database(tmp_path_factory.mktemp("body-limits"))
    app = create_app("testing", **app_config(url, redis_url,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    yield Site(app, Session)
    Session.remove()


def unsafe_rules(app):
    """Every (rule, method) that takes a body (but signing out, which would end the session
    the other routes are sent with)."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "auth.logout":
            continue
        for method in sorted(rule.methods & (UNSAFE - {"DELETE"})):
            yield rule, method


def send(site: Site, rule, method: str, body: bytes, *, chunked: bool = False,
         content_type: str = "application/json"):
    """`body` to the route as someone allowed to use it: the API with an operator's token
    (the webhook signed by the provider, the token endpoint as anybody), pages with the
    session and its CSRF token in the header, so only the body can be refused."""
    url = site.url(rule)
    headers = {"Content-Type": content_type}
    if rule.endpoint == "api.payment_webhook":
        headers.update(payments.sign(provider.SECRET, body, msg_id="msg_deep",
                                     timestamp=utcnow()))
    elif rule.rule.startswith("/api/"):
        headers.update(site.tokens["operator"])
    identity = csrf_identity(rule)
    client = (site.app.test_client() if rule.rule.startswith("/api/")
              else site.pages[identity].client)
    if not rule.rule.startswith("/api/"):
        headers["X-CSRFToken"] = site.pages[identity].csrf
    if not chunked:
        return client.open(url, method=method, data=body, headers=headers)
    # No Content-Length: the server reads until the client's last chunk, as Werkzeug's
    # server and gunicorn mark with wsgi.input_terminated.
    return client.open(url, method=method, input_stream=io.BytesIO(body),
                       headers={**headers, "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def api_error(response) -> dict:
    """The API's error shape; returns the error."""
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        response.status_code, response.get_data()[:200])
    error = body["error"]
    assert error.get("code") and error.get("message"), error
    return error


# -- depth -------------------------------------------------------------------------------------

def test_the_json_reader_refuses_deep_documents_without_recursing(site):
    """100,000 levels of lists or objects: a ValueError (malformed JSON), not a
    RecursionError; MAX_JSON_DEPTH levels are read, one more is not."""
    with site.app.app_context():
        for shape in SHAPES:
            for levels in (100_000, 2_000, MAX_JSON_DEPTH + 1):
                with pytest.raises(ValueError, match="nested more than"):
                    flask_json.loads(nested(shape, levels))
        assert json_depth(flask_json.loads(nested("array", MAX_JSON_DEPTH))) == MAX_JSON_DEPTH
        assert flask_json.loads('{"amount": "1.00", "events": ["a"]}')["events"] == ["a"]
    assert json_depth(5) == 0 and json_depth({}) == 1 and json_depth([[], {"a": [1]}]) == 3
    assert json_depth(json.loads(nested("mixed", 10))) == 20


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_deep_json_is_a_400_on_every_json_route(site, shape):
    """Every API route that reads a JSON body, given a body nested past MAX_JSON_DEPTH, a
    thousand levels, and as many as fit its 64 KiB (about 30,000): 400 `bad_json` in the
    error shape, never a 500 or a RecursionError."""
    routes = json_routes()
    seen = set()
    for rule, method in unsafe_rules(site.app):
        route = (method, re.sub(r"<\w+(\([^)]*\))?:", "<", rule.rule))  # "<id:x>" -> "<x>"
        if route not in routes:
            continue
        seen.add(route)
        for levels in (MAX_JSON_DEPTH + 1, 1_000, fitting(shape, 100_000)):
            r = send(site, rule, method, nested(shape, levels))
            assert r.status_code == 400, (method, rule.rule, levels, r.status_code,
                                          r.get_data()[:200])
            assert api_error(r)["code"] == "bad_json", (method, rule.rule)
    assert seen == routes and len(seen) >= 9


def test_100000_levels_are_refused_on_every_unsafe_route(site):
    """100,000 levels ([[[...]]], 200 KB; {"a":{"a":...}}, 600 KB) to every POST, PATCH and
    PUT route, with a Content-Length and in chunks: the API's JSON routes answer 413 in the
    error shape (the bodies are over their 64 KiB), the others (pages, routes without a body)
    a 4xx or their usual answer (a form does not read JSON), never a 5xx."""
    routes, checked = json_routes(), 0
    for rule, method in unsafe_rules(site.app):
        reads_json = (method, re.sub(r"<\w+(\([^)]*\))?:", "<", rule.rule)) in routes
        for shape in ("array", "object"):
            for chunked in (False, True):
                r = send(site, rule, method, nested(shape, 100_000), chunked=chunked)
                assert r.status_code < 500, (method, rule.rule, shape, chunked, r.status_code)
                if reads_json:
                    assert r.status_code == 413, (method, rule.rule, r.status_code)
                    assert api_error(r)["code"] == "too_large"
                elif rule.rule.startswith("/api/") and r.status_code >= 400:
                    api_error(r)  # a route without a body ignores it; a refusal keeps the shape
                checked += 1
    assert checked > 100


# -- size ----------------------------------------------------------------------------------------

def test_the_default_limit_is_one_mib(site):
    assert site.app.config["MAX_CONTENT_LENGTH"] == MIB
    assert site.app.config["MAX_FORM_MEMORY_SIZE"] == MIB


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_api_body_over_the_limit_is_413_in_the_error_shape(site, chunked):
    """2 MiB to the token endpoint and to a top-up: 413 `too_large` in the error shape,
    with or without a Content-Length; between 64 KiB and 1 MiB the API's own limit answers
    (a chunked body used to slip past it: its length was only checked when announced)."""
    token = next(r for r in site.app.url_map.iter_rules() if r.endpoint == "api.auth_token")
    topup = next(r for r in site.app.url_map.iter_rules() if r.endpoint == "api.create_topup")
    padding = {"email": "x@example.test", "password": "p", "x": ""}
    for size, limit in ((2 * MIB, "1 MiB"), (100 * 1024, "64 KiB")):
        padding["x"] = "a" * size
        for rule in (token, topup):
            r = send(site, rule, "POST", json.dumps(padding).encode(), chunked=chunked)
            assert r.status_code == 413, (rule.rule, size, r.status_code, r.get_data()[:300])
            error = api_error(r)
            assert error["code"] == "too_large" and limit in error["message"], error


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_form_over_the_limit_is_a_plain_413_page(site, chunked):
    """A 2 MiB sign-in form (anonymous) and wallet settings form (operator): a 413 page that
    says so, not a 500 and not JSON; nothing read into the form."""
    body = b"email=a%40example.test&password=" + b"p" * (2 * MIB)
    client = site.app.test_client()
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": token}
    kwargs = ({"input_stream": io.BytesIO(body),
               "environ_overrides": {"wsgi.input_terminated": True},
               "headers": {**headers, "Transfer-Encoding": "chunked"}}
              if chunked else {"data": body, "headers": headers})
    r = client.post("/login", **kwargs)
    assert r.status_code == 413 and r.mimetype == "text/html", r.status_code
    assert "The request is too large: send at most 1 MiB." in r.get_data(as_text=True)
    settings = next(r for r in site.app.url_map.iter_rules()
                    if r.endpoint == "wallets.save_settings")
    r = send(site, settings, "POST", body, chunked=chunked,
             content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and r.mimetype == "text/html", r.status_code
    assert "too large" in r.get_data(as_text=True)


def test_a_form_under_the_limit_is_read(site):
    """900 KiB in a field is under the limit: the sign-in form answers as usual (401 or 422
    beside the field), so the 413 above is the setting, not a smaller hidden one."""
    from tests.conftest import csrf_from

    client = site.app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"email": "a@example.test", "password": "p" * (900 * 1024),
                                    "csrf_token": token})
    assert r.status_code in (401, 422), r.status_code


def chunked_over_the_wire(base_url: str, path: str, size: int, content_type: str,
                          extra_headers: str = "") -> tuple[int, dict, bytes]:
    """POST `size` bytes in 64 KiB chunks (Transfer-Encoding: chunked, no Content-Length) on
    a raw socket, sending from a thread while the answer is read: (status, headers, body).
    A server that answers before the body ends may stop reading it, so the sender's errors
    are expected; the answer is what counts."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                  f"Transfer-Encoding: chunked\r\n{extra_headers}\r\n").encode())

    def send():
        chunk, sent = b"a" * 65536, 0
        try:
            while sent < size:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: it has answered

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536) or b"<closed>"
        head, body = answer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("Content-Length", 0)):
            body += sock.recv(65536) or b"<closed>"
    finally:
        sock.close()
        sender.join(5)
    return int(lines[0].split()[1]), headers, body


@pytest.mark.stack
def test_a_live_server_refuses_a_chunked_body_over_the_limit(stack):
    """Werkzeug's server, as `run.py web` runs it: 2 MiB in chunks to the token endpoint is
    413 in the error shape, to the sign-in form a 413 page; half a MiB in chunks is read
    (the token endpoint then refuses it as over its own 64 KiB)."""
    status, headers, body = chunked_over_the_wire(stack.url, "/api/v1/auth/token", 2 * MIB,
                                                  "application/json")
    assert status == 413 and headers["Content-Type"] == "application/json", (status, body)
    assert json.loads(body)["error"] == {"code": "too_large", "message":
                                         "The request is too large: send at most 1 MiB."}
    status, headers, body = chunked_over_the_wire(stack.url, "/login", 2 * MIB,
                                                  "application/x-www-form-urlencoded")
    assert status == 413 and headers["Content-Type"].startswith("text/html"), status
    assert b"The request is too large: send at most 1 MiB." in body
    status, _, body = chunked_over_the_wire(stack.url, "/api/v1/auth/token", MIB // 2,
                                            "application/json")
    assert status == 413 and b"64 KiB" in body, (status, body)


def test_the_limit_is_read_from_the_environment(monkeypatch, db_url, redis_url):
    """MAX_CONTENT_LENGTH=4096: a 5,000-byte form is 413 and the page names 4 KiB. (Last in
    the module: a new app binds the session to its own database.)"""
    from dashboard import create_app
    from tests.conftest import app_config

    monkeypatch.setenv("MAX_CONTENT_LENGTH", "4096")
    app = create_app("testing", **app_config(db_url, redis_url))
    assert app.config["MAX_CONTENT_LENGTH"] == 4096 == app.config["MAX_FORM_MEMORY_SIZE"]
    r = app.test_client().post("/login", data={"email": "e" * 5000, "password": "p"})
    assert r.status_code == 413
    assert "send at most 4 KiB" in r.get_data(as_text=True)
