"""The floors the figures are compared with: reading every wallet (and reading) row once,
writing N notification-sized rows, and the loopback round trips of Redis and HTTP."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from .common import emit, load, median, prepare_db


def _time(fn, repeats: int = 3) -> float:
    """Median seconds of `fn()`."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return median(runs)


def table_floors(path: Path, notifications: int) -> dict:
    """Seconds to read every wallet and reading row once (one aggregate each, no Python per
    row), and to insert `notifications` notification-sized rows with one executemany."""
    conn = sqlite3.connect(path)
    wallets = _time(lambda: conn.execute(
        "SELECT count(*), sum(balance < low_balance_threshold), sum(balance * 5 < "
        "low_balance_threshold) FROM wallets").fetchone())
    readings = _time(lambda: conn.execute(
        "SELECT count(*), sum(consumption) FROM meter_readings").fetchone(), repeats=1)
    scratch = Path(f"{path}.scratch")
    scratch.unlink(missing_ok=True)
    out = sqlite3.connect(scratch)
    out.execute("PRAGMA journal_mode=WAL")
    out.execute("CREATE TABLE n (id INTEGER PRIMARY KEY, type TEXT, title TEXT, message TEXT, "
                "priority TEXT, wallet_id INT, data TEXT, dedup_key TEXT UNIQUE, "
                "created_at TEXT)")
    text = ("Unit A001, Sunset Ridge has R 12.34 left, below your alert level of R 50.00. "
            "Top up soon so your supply stays on.")
    rows = [("low_credit", "Your credit is running low", text, "high", i,
             f'{{"wallet_id": {i}, "balance": "12.34", "threshold": "50.00"}}',
             f"low_credit:{i}:1", "2026-01-01 04:00:00.000000") for i in range(notifications)]

    def insert():
        """One executemany and a commit."""
        out.execute("DELETE FROM n")
        out.executemany("INSERT INTO n (type, title, message, priority, wallet_id, data, "
                        "dedup_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        out.commit()

    inserts = _time(insert)
    out.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    counts = conn.execute("SELECT count(*) FROM wallets").fetchone()[0]
    conn.close()
    return {"wallet_rows": counts, "read_wallets_s": round(wallets, 3),
            "read_readings_s": round(readings, 3), "insert_rows": notifications,
            "insert_s": round(inserts, 3)}


def loopback(url: str, redis_url: str, repeats: int = 500) -> dict:
    """p50 ms of a Redis PING and of an HTTP GET of a small static file on the web server."""
    import redis
    import requests

    r = redis.Redis.from_url(redis_url)
    s = requests.Session()
    pings, gets = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        r.ping()
        pings.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        s.get(f"{url}/static/css/app.css", timeout=10)
        gets.append((time.perf_counter() - t) * 1000)
    return {"redis_ping_p50_ms": round(median(pings), 3),
            "http_static_p50_ms": round(median(gets), 2)}


def run(wallets: int = 1_000_000) -> dict:
    """Table floors at a size, one JSON line."""
    path = prepare_db(wallets)
    before = load()
    floors = table_floors(path, int(wallets * 0.2))
    return emit({"bench": "bounds", "wallets": wallets, **floors, "load_before": before,
                 "load_after": load()})
