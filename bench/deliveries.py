"""Deliveries: what making email and SMS rows costs a scan, and how fast one worker process
sends them.

1. The 100k-wallet low-credit scan with email and SMS on for every resident (each has an
   address and chose both for low credit: two more delivery rows per notification), against
   the same scan with channels off (each chose in-app only: the same preference rows read,
   no outside rows written). Each run in a fresh process (bench.scan_child), alternating.
2. Throughput: N pending emails and N pending SMS sent by the sender (services/channels/
   sender.py, as the worker's task runs it) in this one process, to the local SMTP server and
   HTTP SMS sink (dashboard/cli/sinks.py) running as another process, rate limits out of the
   way (Redis token bucket at 100,000/s).
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .common import OUT, ROOT, emit, load, log, median, prepare_db
from .scans import Database, child

USERS_SQL = "SELECT id FROM users WHERE role = 'resident'"


def set_channels(path: Path, on: bool) -> int:
    """Every resident: an address each and low credit by email and SMS (on), or in-app only
    (off). Returns how many residents."""
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("DELETE FROM channel_preferences")
        conn.execute("UPDATE people SET email = 'p' || id || '@bench.test', "
                     "phone = '+2782' || substr('0000000' || id, -7, 7)")
        flag = 1 if on else 0
        conn.execute(f"INSERT INTO channel_preferences (user_id, type, email, sms) SELECT id, "
                     f"'low_credit', {flag}, {flag} FROM users WHERE role = 'resident'")
        count = conn.execute("SELECT count(*) FROM users WHERE role = 'resident'").fetchone()[0]
    return count


def outside_rows(path: Path) -> int:
    """Email and SMS rows the last scan made."""
    with sqlite3.connect(path, timeout=60) as conn:
        return conn.execute("SELECT count(*) FROM notification_deliveries "
                            "WHERE channel != 'in_app'").fetchone()[0]


def scan_cost(wallets: int, *, repeats: int = 3, path: Path | None = None) -> dict:
    """Median seconds of the low-credit scan with channels on and off."""
    path = path or prepare_db(wallets)
    database = Database("sqlite", wallets, path)
    residents = set_channels(path, True)
    runs: dict[str, list] = {"on": [], "off": []}
    rows = {}
    loads = [load()]
    for i in range(repeats):
        for mode in ("off", "on"):
            set_channels(path, mode == "on")
            result = child(database, "low_credit", "new")
            runs[mode].append(result["seconds"])
            rows[mode] = (result["notifications"], outside_rows(path))
            log(f"scan with channels {mode} #{i + 1}: {result['seconds']} s, {rows[mode]}")
        loads.append(load())
    on, off = median(runs["on"]), median(runs["off"])
    return emit({"bench": "deliveries_scan", "wallets": wallets, "residents": residents,
                 "seconds_on": on, "seconds_off": off, "runs_on": runs["on"],
                 "runs_off": runs["off"], "slowdown_pct": round((on / off - 1) * 100, 1),
                 "notifications": rows["on"][0], "outside_rows_on": rows["on"][1],
                 "outside_rows_off": rows["off"][1], "load1": [x["load1"] for x in loads]})


def _pending_db(path: Path, n: int) -> None:
    """A database with `n` pending emails and `n` pending SMS (one notification each)."""
    from dashboard.migrate import upgrade

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO estates (id, name, tariffs, default_low_balance_threshold, "
                     "default_alert_mode, default_low_balance_days, "
                     "default_alert_frequency_hours, min_low_balance_threshold, "
                     "max_low_balance_threshold, sms_delay_minutes) VALUES "
                     "(1, 'Bench', '{}', 5000, 'amount', 3, 24, 0, 200000, 0)")
        conn.execute("INSERT INTO units (id, estate_id, number) VALUES (1, 1, 'A001')")
        conn.execute("INSERT INTO wallets (id, unit_id, balance, electricity_credit, "
                     "water_credit, solar_credit, hot_water_credit, low_balance_threshold, "
                     "alert_mode, low_balance_days, alert_frequency_hours, state, "
                     "low_alert_seq, critical_alert_seq, updated_at) VALUES (1, 1, 500, 0, 0, "
                     "0, 0, 5000, 'amount', 3, 24, 'critical', 0, 0, '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO users (id, email, password_hash, role, active, "
                     "token_version, created_at) VALUES (1, 'b@bench.test', 'x', 'resident', "
                     "1, 0, '2026-01-01 00:00:00')")
        now = "2026-01-01 00:00:00"
        conn.executemany(
            "INSERT INTO notifications (id, type, title, message, priority, wallet_id, data, "
            "dedup_key, created_at) VALUES (?, 'critical_credit', 'Your credit is almost "
            "finished', 'Unit A001, Bench has only R 5.00 left.', 'critical', 1, "
            "'{\"balance\": \"5.00\", \"threshold\": \"50.00\"}', ?, ?)",
            [(i, f"b:{i}", now) for i in range(1, n + 1)])
        conn.executemany(
            "INSERT INTO notification_deliveries (notification_id, user_id, channel, address, "
            "status, attempts, created_at) VALUES (?, 1, ?, ?, 'pending', 0, ?)",
            [(i, c, f"p{i}@bench.test" if c == "email" else f"+2782{i:07d}", now)
             for c in ("email", "sms") for i in range(1, n + 1)])


def throughput(n: int, *, concurrency: int = 8) -> list[dict]:
    """Seconds for one process to send `n` emails, then `n` SMS, to the local sinks."""
    import redis as redis_lib

    from dashboard.cli import redis_server
    from dashboard.cli.sinks import email_url, sms_url
    from dashboard.db import Session, init_engine
    from dashboard.services.channels import sender
    from dashboard.services.channels.ratelimit import RateLimit

    path = OUT / "deliveries.db"
    _pending_db(path, n)
    redis_port, smtp_port, sms_port = (redis_server.free_port() for _ in range(3))
    redis_proc = redis_server.start(redis_port)
    sinks = subprocess.Popen([sys.executable, "-m", "dashboard.cli.sinks", "--outbox",
                              str(OUT / "outbox"), "--smtp-port", str(smtp_port),
                              "--sms-port", str(sms_port)], cwd=ROOT, stdout=subprocess.DEVNULL)
    results = []
    try:
        for port in (smtp_port, sms_port):
            redis_server.wait_port("127.0.0.1", port)
        init_engine(f"sqlite:///{path}")
        client = redis_lib.Redis(port=redis_port)
        settings = sender.ChannelSettings(
            urls={"email": email_url(smtp_port), "sms": sms_url(sms_port)},
            public_url="http://bench.test", tz="Africa/Johannesburg", concurrency=concurrency)
        for channel in ("email", "sms"):
            limit = RateLimit(client, f"bench:{channel}", 100_000)
            started, sent = time.perf_counter(), 0
            while True:
                done = sender.drain(Session, channel, settings, limit, budget=600)
                sent += done.sent
                if not done.more and not done.retrying:
                    break
            seconds = time.perf_counter() - started
            log(f"{channel}: {sent} sent in {seconds:.2f} s")
            results.append(emit({"bench": "deliveries", "channel": channel, "sent": sent,
                                 "seconds": round(seconds, 3),
                                 "per_second": round(sent / seconds, 1),
                                 "concurrency": concurrency, **load()}))
        Session.remove()
    finally:
        sinks.terminate()
        sinks.wait(10)
        redis_proc.terminate()
        redis_proc.wait(10)
    return results


def run(wallets: int = 100_000, *, sends: int = 5000, repeats: int = 3,
        concurrency: int = 8) -> None:
    """Both measurements."""
    scan_cost(wallets, repeats=repeats)
    throughput(sends, concurrency=concurrency)
