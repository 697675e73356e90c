"""Fan-out: N residents connected to one web process, one low-credit scan that notifies every
one of them; time from "Run now" until each client has its notification, and loss.

With `--profile`, py-spy samples the web and the worker processes during each size's rounds
(bench/profiler.py) and the record says which functions took their busy time.
"""
from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

from dashboard.services.scans.catalogue import for_kind

from . import live, profiler
from .common import (
    OUT,
    ROOT,
    emit,
    load,
    log,
    median,
    percentile,
    prepare_db,
    reset_alerts,
)

SCAN = for_kind("low_credit").name


def make_low(path: Path, wallet_ids: list[int]) -> None:
    """Exactly these wallets low (R 10.00 under R 50.00, amount mode); every other one ok."""
    reset_alerts(path)
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("UPDATE wallets SET balance = 100000, alert_mode = 'amount', "
                     "low_balance_threshold = 5000, state = 'ok'")
        conn.executemany("UPDATE wallets SET balance = 1000, state = 'low' WHERE id = ?",
                         [(w,) for w in wallet_ids])


def one_run(stack, path: Path, residents, timeout: float, rounds: int,
            profile: dict | None = None) -> dict:
    """Connect len(residents) clients in a subprocess, run the scan `rounds` times (alerts
    reset before each), collect the arrivals. `profile` {name: [pid, output file]}: the
    client process samples those processes during the rounds (not while connecting)."""
    make_low(path, [w for _, w, _ in residents])
    spec = {"tokens": [live.mint_token(u) for u, _, _ in residents], "kind": "low_credit",
            "scan": SCAN, "operator_token": live.mint_token(live.operator_id(path)),
            "timeout": timeout, "rounds": rounds, "db": str(path), "profile": profile or {},
            "pids": {name: proc.pid for name, proc in stack.procs.items()}}
    spec_file = OUT / "fanout-spec.json"
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run([sys.executable, "-m", "bench.fanout_clients", stack.url,
                          str(spec_file)], cwd=ROOT, capture_output=True, text=True, check=False,
                         timeout=timeout + 600)
    if out.returncode != 0:
        raise RuntimeError(f"fan-out clients failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def raise_fd_limit() -> int:
    """Open files allowed to this process and its children (the web and the client process
    each hold a socket per client): the soft limit raised to the hard one. Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run(sizes, *, server: str = "werkzeug", timeout: float = 60.0, rounds: int = 3,
        db_wallets: int = 5000, profile: bool = False) -> list[dict]:
    """One stack; for each N, N connected residents and `rounds` scans. A warm-up round with
    ten clients first (the worker's first scan compiles its SQL). One JSON line per N, with
    the median over rounds of each figure and the worst loss."""
    files = raise_fd_limit()
    if files < max(sizes) + 1000:  # per process: the web's sockets, the clients' sockets
        log(f"warning: {files} open files allowed; {max(sizes)} clients may not fit")
    path = prepare_db(max(db_wallets, max(sizes)), path=OUT / f"fanout-{db_wallets}.db")
    people = live.bench_residents(path, max(sizes))
    results = []
    with live.running(path, server=server, connections=max(sizes) + 1000) as stack:
        one_run(stack, path, people[:min(10, len(people))], timeout, 1)
        for n in sizes:
            before = load()
            n = len(people[:n])  # 5,000 asked of a 5,000-unit estate: 4,998 (two demo logins)
            log(f"fan-out to {n} clients ({server}), {rounds} rounds")
            samples = {name: [stack.procs[name].pid, str(OUT / f"fanout-{name}-{server}-{n}.txt")]
                       for name in (("web", "worker") if profile else ())}
            got = one_run(stack, path, people[:n], timeout, rounds, samples)
            stack.check_alive()
            per_round = [_summary(got["connected"], r) for r in got.pop("rounds")]
            results.append(emit({
                "bench": "fanout", "server": server, "clients": n, **got,
                "rounds": len(per_round),
                "lost": max(r["lost"] for r in per_round),
                "drops": max(r.get("drops", 0) for r in per_round),
                "p50_ms": median(r["p50_ms"] for r in per_round),
                "p99_ms": median(r["p99_ms"] for r in per_round),
                "last_ms": median(r["last_ms"] for r in per_round),
                # CPU from "Run now" until the last arrival, per connected client.
                "cpu_ms_per_client": {name: round(median(
                    1000 * r["cpu_s"][name] / max(got["connected"], 1) for r in per_round), 3)
                    for name in per_round[0].get("cpu_s", {})},
                "per_round": per_round, "load_before": before, "load_after": load(),
                **{f"profile_{name}": profiler.summary(Path(out))
                   for name, (_, out) in samples.items()}}))
    return results


def _summary(n: int, got: dict) -> dict:
    """Percentiles of one round's arrivals (ms after "Run now"); `n` clients connected, so
    `lost` counts connected clients that never got their notification."""
    lat = [x * 1000 for x in got.pop("latencies")]
    return {**got, "received": len(lat), "lost": n - len(lat),
            "p50_ms": _r(percentile(lat, 50)), "p99_ms": _r(percentile(lat, 99)),
            "first_ms": _r(min(lat) if lat else None), "last_ms": _r(max(lat) if lat else None)}


def _r(value):
    """Round a millisecond figure."""
    return None if value is None else round(value, 1)
