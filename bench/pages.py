"""Wallet list pages on a big database: first page, filtered, deep (cursor near the end),
sorted and searched; server time in-process (Flask test client) and over HTTP.

Both the JSON API (GET /api/v1/wallets, bearer token) and the operator's HTML page (GET
/wallets, signed in through the real login form) are timed with the same query strings; the
HTML page is skipped while it does not exist.
"""
from __future__ import annotations

import re
import sqlite3
import time

import requests

from . import live
from .common import emit, load, log, percentile, prepare_db

LIMIT = 50
OPERATOR = ("operator@example.com", "demo-operator")  # seeded with the fast bench hash


def sign_in(get, post) -> None:
    """Sign the operator in through /login (CSRF token from the form); `get`/`post` are the
    test client's or a requests.Session's methods."""
    page = get("/login")
    html = page.get_data(as_text=True) if hasattr(page, "get_data") else page.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    r = post("/login", data={"email": OPERATOR[0], "password": OPERATOR[1],
                             "csrf_token": token.group(1) if token else ""})
    if getattr(r, "status_code", 0) not in (200, 302, 303):
        raise RuntimeError(f"sign-in answered {r.status_code}")


def page_queries(path) -> dict[str, str]:
    """Name → query string of each page measured (cursors built for ids near the end)."""
    from dashboard.services.wallets import encode_cursor

    with sqlite3.connect(path) as conn:
        last, count = conn.execute("SELECT max(id), count(*) FROM wallets").fetchone()
        lows = conn.execute("SELECT count(*) FROM wallets WHERE state = 'low'").fetchone()[0]
        # 200 low wallets, 1,000 wallets and 500 balances before the end (less in toy sizes)
        low_last = conn.execute("SELECT id FROM wallets WHERE state = 'low' ORDER BY id DESC "
                                "LIMIT 1 OFFSET ?", (min(200, lows // 2),)).fetchone()
        bal = conn.execute("SELECT balance, id FROM wallets ORDER BY balance DESC, id DESC "
                           "LIMIT 1 OFFSET ?", (min(500, count // 2),)).fetchone()
    low_last = low_last[0] if low_last else 0
    deep_balance = encode_cursor({"id": bal[1], "balance": f"{bal[0] / 100:.2f}"})
    return {
        "first": f"limit={LIMIT}",
        "filtered_low": f"state=low&limit={LIMIT}",
        "deep": f"limit={LIMIT}&cursor={encode_cursor({'id': last - min(1000, count // 2)})}",
        "deep_filtered_low": f"state=low&limit={LIMIT}&cursor={encode_cursor({'id': low_last})}",
        "sort_balance": f"sort=balance&limit={LIMIT}",
        "deep_sort_balance": f"sort=balance&limit={LIMIT}&cursor={deep_balance}",
        "search": f"q=Thandi&limit={LIMIT}",
    }


BUDGET = 15.0  # seconds per page and mode: a slow page gets fewer samples (at least MIN_N)
MIN_N = 10


def timed(fn, repeats: int) -> list[float]:
    """Milliseconds of each of `repeats` calls (after three untimed warm-up calls), stopping
    early once BUDGET seconds are spent and MIN_N calls are made."""
    for _ in range(3):
        fn()
    out = []
    deadline = time.perf_counter() + BUDGET
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
        if len(out) >= MIN_N and started > deadline:
            break
    return out


def _stats(samples: list[float]) -> dict:
    """p50/p95/max in ms."""
    return {"p50_ms": round(percentile(samples, 50), 2),
            "p95_ms": round(percentile(samples, 95), 2),
            "max_ms": round(max(samples), 2), "n": len(samples)}


def in_process(stack, path, queries: dict, repeats: int) -> dict:
    """Server time: the Flask test client in this process, on the same database."""
    from dashboard import create_app

    app = create_app("testing", DATABASE_URL=live.db_url(path), REDIS_URL=stack.redis_url,
                     SOCKETIO_MESSAGE_QUEUE=stack.redis_url, SOCKETIO_CHANNEL=stack.channel,
                     SECRET_KEY=live.SECRET)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {live.mint_token(live.operator_id(path))}"}
    html = any(r.rule == "/wallets" for r in app.url_map.iter_rules())
    if html:
        sign_in(client.get, client.post)
    out = {}
    for name, qs in queries.items():
        log(f"page {name} in-process")
        out[name] = {"api": _stats(timed(lambda qs=qs: _ok(client.get(
            f"/api/v1/wallets?{qs}", headers=headers)), repeats))}
        if html:
            out[name]["html"] = _stats(timed(lambda qs=qs: _ok(client.get(f"/wallets?{qs}")),
                                             repeats))
    return out


def over_http(stack, path, queries: dict, repeats: int) -> dict:
    """The same pages through the real server (werkzeug), keep-alive, one at a time."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {live.mint_token(live.operator_id(path))}"
    browser = requests.Session()
    html = browser.get(f"{stack.url}/wallets", timeout=60, allow_redirects=False
                       ).status_code != 404
    if html:
        sign_in(lambda p: browser.get(stack.url + p, timeout=60),
                lambda p, data: browser.post(stack.url + p, data=data, timeout=60))
    out = {}
    for name, qs in queries.items():
        log(f"page {name} over HTTP")
        out[name] = {"api": _stats(timed(lambda qs=qs: _ok(api.get(
            f"{stack.url}/api/v1/wallets?{qs}", timeout=60)), repeats))}
        if html:
            out[name]["html"] = _stats(timed(lambda qs=qs: _ok(browser.get(
                f"{stack.url}/wallets?{qs}", timeout=60)), repeats))
    return out


def _ok(response):
    """Fail loudly on anything but 200."""
    status = getattr(response, "status_code", None)
    if status != 200:
        raise RuntimeError(f"page answered {status}")
    return response


def run(wallets: int, *, repeats: int = 200, path=None) -> list[dict]:
    """Every page, in-process and over HTTP; one JSON line per page."""
    path = path or prepare_db(wallets)
    queries = page_queries(path)
    out = []
    with live.running(path) as stack:
        before = load()
        log(f"pages at {wallets:,} wallets, {repeats} requests each")
        server = in_process(stack, path, queries, repeats)
        http = over_http(stack, path, queries, repeats)
        for name in queries:
            out.append(emit({"bench": "pages", "page": name, "wallets": wallets,
                             "query": queries[name], "server": server[name], "http": http[name],
                             "load_before": before, "load_after": load()}))
    return out
