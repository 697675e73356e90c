"""End-to-end latency: a top-up through HTTP until the resident's Socket.IO client receives
its `topup_success` notification, with the real worker in between, at fixed rates. A
resident's top-up is a payment: it starts, and the provider's signed webhook (sent at once
here, as the test gateway's Pay would) credits it; both calls count.

Open loop: top-ups are started on a fixed schedule whatever the answers, and latency counts
from the scheduled start, so a slow server cannot hide its queueing (no coordinated omission).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import socketio

from config import DEV_PAYMENT_WEBHOOK_SECRET  # the test stack's provider secret
from dashboard.models import utcnow
from dashboard.services import payments

from . import bounds, live
from .common import OUT, emit, load, log, percentile, prepare_db, tree_cpu_seconds

STALL = 15.0  # after the last top-up, wait while notifications keep arriving, until this long
MAX_DRAIN = 300.0  # passes without one, or this long in all; what has not come then is lost


class Receiver:
    """Socket.IO clients of some residents, recording when each transaction's note arrives."""

    def __init__(self, url: str, residents):
        """Connect one client per resident (user_id, wallet_id, email)."""
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()
        self.clients = []
        for user_id, _wallet, _email in residents:
            client = socketio.Client(reconnection=False)
            client.on("notification", self._on_notification)
            client.connect(url, auth={"token": live.mint_token(user_id)},
                           transports=["websocket"], wait_timeout=10)
            self.clients.append(client)

    def _on_notification(self, data):
        """Remember the arrival time of a top-up's notification."""
        now = time.monotonic()
        if data.get("type") == "topup_success":
            tx = (data.get("data") or {}).get("transaction_id")
            with self.lock:
                self.arrived.setdefault(tx, now)

    def close(self) -> None:
        """Disconnect every client, all at once (one disconnect waits a few seconds for the
        client's background threads)."""
        with ThreadPoolExecutor(max_workers=len(self.clients) or 1) as pool:
            list(pool.map(lambda c: c.disconnect(), self.clients))


def _topup(base: str, wallet_id: int, token: str, session_for) -> tuple[int, int | None, float]:
    """One resident top-up: start the payment, then the provider's signed confirmation;
    (status, transaction id, seconds both HTTP calls took). 201 once it is credited."""
    started = time.monotonic()
    try:
        r = session_for().post(f"{base}/api/v1/wallets/{wallet_id}/topups",
                               json={"amount": "10.00", "method": "card"},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if r.status_code != 202:
            return r.status_code, None, time.monotonic() - started
        payment = r.json()["payment"]
        now = utcnow()
        body = payments.event_body("payment.succeeded", payment["id"], payment["amount"],
                                   f"bench_{payment['id']}", now)
        headers = payments.sign(DEV_PAYMENT_WEBHOOK_SECRET, body,
                                msg_id=f"msg_bench_{payment['id']}", timestamp=now)
        r = session_for().post(f"{base}/api/v1/payments/webhook", data=body, timeout=30,
                               headers={**headers, "Content-Type": "application/json"})
        tx = r.json()["payment"]["transaction_id"] if r.status_code == 200 else None
        return (201 if tx else r.status_code), tx, time.monotonic() - started
    except requests.RequestException:
        return 0, None, time.monotonic() - started


def _drain(receiver: Receiver, expected: set) -> None:
    """Wait for the notifications still on their way: as long as some keep arriving (a
    backlog draining is late, not lost), at most MAX_DRAIN seconds."""
    started = last_progress = time.monotonic()
    seen = -1
    while time.monotonic() - started < MAX_DRAIN and time.monotonic() - last_progress < STALL:
        with receiver.lock:
            have = len(expected & receiver.arrived.keys())
        if have == len(expected):
            return
        if have != seen:
            seen, last_progress = have, time.monotonic()
        time.sleep(0.05)


def drive(stack, residents, rate: float, duration: float) -> dict:
    """Top-ups at `rate` a second for `duration` seconds; latency percentiles and loss."""
    receiver = Receiver(stack.url, residents)
    tokens = {w: live.mint_token(u) for u, w, _ in residents}
    wallets = [w for _, w, _ in residents]
    local = threading.local()

    def session_for():
        """One keep-alive HTTP session per sender thread."""
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    sent: list[tuple[float, object]] = []
    count = max(1, int(rate * duration))
    load_before = load()
    cpu_before = {name: tree_cpu_seconds(p.pid) for name, p in stack.procs.items()}
    with ThreadPoolExecutor(max_workers=min(64, max(4, int(rate)))) as pool:
        t0 = time.monotonic() + 0.5
        for i in range(count):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            wallet = wallets[i % len(wallets)]
            sent.append((due, pool.submit(_topup, stack.url, wallet, tokens[wallet],
                                          session_for)))
    results = [(due, f.result()) for due, f in sent]
    created = [(due, tx, http) for due, (status, tx, http) in results if status == 201]
    _drain(receiver, {tx for _, tx, _ in created})
    # CPU each process spent per top-up (the drain included: the worker's backlog is work too).
    cpu_ms = {f"cpu_ms_per_topup_{name}": round((tree_cpu_seconds(p.pid) - cpu_before[name])
                                                * 1000 / max(1, len(created)), 2)
              for name, p in stack.procs.items()}
    receiver.close()
    lat = [(receiver.arrived[tx] - due) * 1000 for due, tx, _ in created if tx in receiver.arrived]
    http = [h * 1000 for _, _, h in created]
    return {
        "bench": "latency", "rate": rate, "duration": duration, "topups": count,
        "created": len(created), "errors": count - len(created),
        "received": len(lat), "lost": len(created) - len(lat),
        "p50_ms": _r(percentile(lat, 50)), "p95_ms": _r(percentile(lat, 95)),
        "p99_ms": _r(percentile(lat, 99)), "max_ms": _r(max(lat) if lat else None),
        "http_p50_ms": _r(percentile(http, 50)), "http_p99_ms": _r(percentile(http, 99)),
        "achieved_rate": round(len(created) / duration, 1), **cpu_ms, "load_before": load_before,
        "load_after": load(),
    }


def _r(value):
    """Round a millisecond figure."""
    return None if value is None else round(value, 1)


KNEE_MS = 1000.0  # the knee: the rate at which p99 passes this


def knee(results: list[dict]) -> dict:
    """Where p99 passes KNEE_MS among the measured rates: the highest rate at or under it
    and the lowest over it (None when every rate is on one side), with each rate's p99,
    loss and CPU per top-up."""
    ordered = sorted(results, key=lambda r: r["rate"])
    under = [r["rate"] for r in ordered if r["p99_ms"] is not None and r["p99_ms"] <= KNEE_MS
             and not r["lost"]]
    over = [r["rate"] for r in ordered if r["rate"] not in under]
    return {"bench": "latency_knee", "p99_limit_ms": KNEE_MS,
            "knee_between": [max(under) if under else None, min(over) if over else None],
            "rates": {str(r["rate"]): {k: r[k] for k in (
                "p50_ms", "p99_ms", "lost", "cpu_ms_per_topup_web",
                "cpu_ms_per_topup_worker")} | {"load1": r["load_before"]["load1"]}
                for r in ordered}}


def run(rates, *, duration: float = 60.0, wallets: int = 2000, residents: int = 50,
        server: str = "werkzeug") -> list:
    """Start the stack once and measure each rate; one JSON line per rate, then one with the
    knee (the rate where p99 passes 1 s) and each rate's CPU per top-up. `server` is the
    development server (werkzeug, threads) or the production one (gunicorn -k gevent)."""
    path = prepare_db(wallets, path=OUT / f"live-{wallets}.db")
    people = live.bench_residents(path, residents)
    out = []
    with live.running(path, server=server) as stack:
        drive(stack, people[:5], 5, 1.0)  # warm-up: imports, connections, compiled SQL
        emit({"bench": "loopback", **bounds.loopback(stack.url, stack.redis_url)})
        for rate in rates:
            log(f"latency at {rate}/s for {duration} s")
            out.append(emit({**drive(stack, people, rate, duration),
                             "residents": len(people), "server": server}))
    if out:
        found = emit({**knee(out), "server": server, "duration": duration})
        log(f"knee (p99 over {KNEE_MS:.0f} ms) between {found['knee_between'][0]}/s and "
            f"{found['knee_between'][1]}/s")
    return out
