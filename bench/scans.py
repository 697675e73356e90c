"""Scan throughput: the set-based scans against the old per-wallet loop, per database size.

Every measurement runs in a fresh subprocess (bench.scan_child) so its peak memory is its own,
and the alert state is reset before each one, so every repeat really notifies. The new scan
and the baseline alternate within a repeat, so both see the same machine load.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from .common import (
    ROOT,
    emit,
    load,
    log,
    median,
    prepare_db,
    ready_for_scans,
    reset_alerts,
    scan_now,
    warm_cache,
)

SCANS = ("low_credit", "critical_credit", "high_usage")


class Database:
    """The seeded database a measurement runs on: a SQLite file or a PostgreSQL database of
    the bench cluster (bench/pg.py, a copy of the SQLite one), how to reset it, its scan time."""

    def __init__(self, db: str, wallets: int, path=None):
        """Prepare (or reuse) the database of `wallets` wallets (`path`: a SQLite file)."""
        self.db = db
        if db == "sqlite":
            self.path = path or prepare_db(wallets)
            ready_for_scans(self.path)
            self.target, self.now = str(self.path), scan_now(self.path)
        else:
            from .pg import prepare_pg

            self.path = None
            self.target, info = prepare_pg(wallets)
            self.now = datetime.fromisoformat(info["now"]) + timedelta(minutes=1)

    def reset(self) -> None:
        """Every alert undone, so the next scan notifies again."""
        if self.path is not None:
            reset_alerts(self.path)
        else:
            from .pg import reset_alerts_pg

            reset_alerts_pg(self.target)

    def warm(self) -> None:
        """The file in the page cache (SQLite; PostgreSQL warms on the untimed first run)."""
        if self.path is not None:
            warm_cache(self.path)


def child(database: Database, scan: str, mode: str, *, sql: bool = False,
          profile: str | None = None, publish: str | None = None, timeout: float = 3600) -> dict:
    """One measurement in a fresh process (alert state reset first)."""
    database.reset()
    cmd = [sys.executable, "-m", "bench.scan_child", database.target, scan, mode,
           "--now", database.now.isoformat()]
    if publish:
        cmd += ["--publish", publish]
    if sql:
        cmd.append("--sql")
    if profile:
        cmd += ["--profile", profile]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"scan child failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(wallets: int, scan: str, *, repeats: int, baseline: bool, baseline_repeats: int,
            sql: bool = False, path=None, db: str = "sqlite") -> dict:
    """Median seconds and peak memory of `scan` at `wallets`, beside the baseline if asked."""
    database = Database(db, wallets, path)
    database.warm()
    if db != "sqlite":
        child(database, scan, "new")  # untimed: PostgreSQL's buffers, as warm_cache for SQLite
    loads, runs, base = [load()], [], []
    for i in range(max(repeats, baseline_repeats if baseline else 0)):
        if i < repeats:
            runs.append(child(database, scan, "new", sql=sql and i == 0))
            log(f"{scan} {db} {wallets:,} new #{i + 1}: {runs[-1]['seconds']} s")
        if baseline and i < baseline_repeats:
            base.append(child(database, scan, "baseline"))
            log(f"{scan} {db} {wallets:,} baseline #{i + 1}: {base[-1]['seconds']} s")
        loads.append(load())
    database.reset()
    seconds = median(r["seconds"] for r in runs)
    record = {
        "bench": "scan", "scan": scan, "db": db, "wallets": wallets,
        "scanned": runs[0]["scanned"],
        "seconds": round(seconds, 3), "runs": [r["seconds"] for r in runs],
        "us_per_wallet": round(seconds / wallets * 1e6, 2),
        "cpu_seconds": median(r.get("cpu_seconds") for r in runs),
        "notifications": runs[0]["notifications"],
        "peak_mb": median(r["peak_mb"] for r in runs),
        "start_mb": median(r["start_mb"] for r in runs),
        "load1": [x["load1"] for x in loads],
    }
    if scan == "high_usage":
        from .readings import plan

        record["readings"] = plan(wallets)
    if base:
        b = median(r["seconds"] for r in base)
        record.update(baseline_seconds=round(b, 3), baseline_runs=[r["seconds"] for r in base],
                      baseline_notifications=base[0]["notifications"],
                      baseline_cpu_seconds=median(r.get("cpu_seconds") for r in base),
                      baseline_peak_mb=median(r["peak_mb"] for r in base),
                      speedup=round(b / seconds, 1))
    if sql and runs and "sql" in runs[0]:
        record["sql_top"] = runs[0]["sql"][:6]
    return emit(record)


def run(sizes, scans=SCANS, *, repeats: int = 3, baseline_upto: int = 100_000,
        usage_baseline_upto: int = 10_000, baseline_repeats: int = 3,
        big_repeats: int | None = None, sql: bool = False, db: str = "sqlite") -> list[dict]:
    """Every scan at every size; the baseline only up to the given sizes (it is slow)."""
    from contextlib import nullcontext

    from .pg import pg_cluster

    results = []
    with pg_cluster() if db == "postgresql" else nullcontext():
        for wallets in sizes:
            for scan in scans:
                upto = usage_baseline_upto if scan == "high_usage" else baseline_upto
                reps = big_repeats if (big_repeats and wallets >= 1_000_000) else repeats
                results.append(measure(wallets, scan, repeats=reps, baseline=wallets <= upto,
                                       baseline_repeats=baseline_repeats, sql=sql, db=db))
    return results


def run_publish(sizes, scan: str = "low_credit", *, repeats: int = 1,
                cli: bool = False, path=None) -> list[dict]:
    """The scan as the worker runs it: every chunk's notifications published to Redis (no
    web process subscribed and nobody connected, so this is the publisher's cost alone).
    With `cli`, the whole `run.py scan` after its start-up: the run recorded, each chunk
    claimed, scanned, counted and published. `path`: one database for every size (the
    smoke test's)."""
    from dashboard.cli import redis_server

    port = redis_server.free_port()
    proc = redis_server.start(port)
    url = f"redis://127.0.0.1:{port}/0"
    results = []
    try:
        for wallets in sizes:
            database = Database("sqlite", wallets, path)
            loads, runs = [load()], []
            for i in range(repeats):
                runs.append(child(database, scan, "cli" if cli else "new", publish=url))
                log(f"{scan} {wallets:,} {'CLI' if cli else 'with publishing'} #{i + 1}: "
                    f"{runs[-1]['seconds']} s")
                loads.append(load())
            database.reset()
            seconds = median(r["seconds"] for r in runs)
            results.append(emit({
                "bench": "scan_cli" if cli else "scan_publish", "scan": scan,
                "wallets": wallets, "seconds": round(seconds, 3),
                "runs": [r["seconds"] for r in runs],
                "cpu_seconds": median(r.get("cpu_seconds") for r in runs),
                "publish_seconds": median(r.get("publish_seconds") for r in runs),
                "notifications": runs[0]["notifications"],
                "peak_mb": median(r["peak_mb"] for r in runs),
                "load1": [x["load1"] for x in loads]}))
    finally:
        proc.terminate()
        proc.wait(10)
    return results
