"""One scan measurement in a fresh process, so its peak memory is its own.

Run by bench.scans as `python -m bench.scan_child DB SCAN MODE --now TIME [--profile FILE]`
(DB: a SQLite file or a PostgreSQL URL); prints one JSON object: seconds, peak and start
memory, counts, and (with --sql) time per statement.
MODE `cli` (with --publish URL) times `run.py scan` after its start-up.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from bench.common import db_url, peak_mb, rss_mb, scan_now
from dashboard.services.scans.catalogue import SCANS, for_kind

KINDS = [scan.kind for scan in SCANS.values()]  # a measurement names a scan by its kind


def cpu_seconds() -> float:
    """User + system CPU time of this process so far: unlike wall time, barely changed by
    other processes competing for the two cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sql_timer(engine) -> dict:
    """Total seconds and count per SQL statement shape (first 90 characters), via events."""
    from sqlalchemy import event

    totals: dict[str, list] = defaultdict(lambda: [0.0, 0])

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        """Start the clock."""
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        """Add the statement's time to its shape."""
        key = " ".join(statement.split())[:90]
        entry = totals[key]
        entry[0] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
        entry[1] += 1

    return totals


def warm_up(session, scan: str, now) -> None:
    """Compile the scan's statements and configure the mappers on a small id range, then roll
    it back: a worker pays this once per process, not once per scan, so it is not timed."""
    from sqlalchemy.orm import configure_mappers

    from dashboard.services.scans import passes as scans

    configure_mappers()
    name = for_kind(scan).name
    lo, _ = scans.id_range(session, SCANS[name].model)
    scans.scan_chunk(session, name, lo, lo + 199, now=now, tz="Africa/Johannesburg")
    session.rollback()


def publisher(session, redis_url: str, spent: list):
    """A progress callback that publishes each chunk's notifications as the worker's chunk
    task does (services/scans/chunks.py: events.publish_scan_notifications), through an
    emit-only Socket.IO on Redis; adds the seconds it spends publishing to spent[0]. Nobody
    is connected, as at 06:00: each chunk reads the presence set and tells operators."""
    from dashboard import events

    events.init_queue(redis_url, "bench-scan-publish")  # as the worker starts
    published = 0

    def progress(done, total, result) -> None:
        """Publish what the last chunk made."""
        nonlocal published
        started = time.perf_counter()
        events.publish_scan_notifications(session, result.notification_ids[published:],
                                          task_run_id=None)
        published = len(result.notification_ids)
        spent[0] += time.perf_counter() - started

    return progress


def measure_cli(db: str, scan: str, redis_url: str) -> dict:
    """`python run.py scan NAME` without the process start: the recorded run, chunk by chunk
    through services/scans/chunks.py, each chunk published as the worker publishes it."""
    import os

    from config import get_config
    from dashboard.cli.scan import run_cli_scan
    from dashboard.migrate import upgrade

    url = db if db.startswith("postgresql") else db_url(Path(db))
    os.environ.update(DATABASE_URL=url, REDIS_URL=redis_url,
                      SOCKETIO_MESSAGE_QUEUE=redis_url, SOCKETIO_CHANNEL="bench-scan-cli",
                      SCAN_CHUNK_SIZE="20000", APP_ENV="development")
    config = get_config()
    upgrade(config.DATABASE_URL)  # as run.py does first: start-up, not timed
    start_mb = rss_mb()
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    run = run_cli_scan(config, for_kind(scan).name)
    seconds = time.perf_counter() - started
    result = run.get("result") or {}
    return {"seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds() - cpu0, 4),
            "peak_mb": round(peak_mb(), 1), "start_mb": round(start_mb, 1),
            "scanned": result.get("scanned"), "notifications": result.get("notified"),
            "chunks": run.get("chunks_total") or run.get("progress", {}).get("total"),
            "state": run.get("state")}


def measure(db: str, scan: str, mode: str, *, now: datetime | None = None, sql: bool = False,
            profile: str | None = None, chunk_size: int | None = None,
            publish: str | None = None) -> dict:
    """Run one scan (`new`: services.scans.run_scan; `baseline`: bench.baseline) on `db` (a
    SQLite file or a PostgreSQL URL) at `now` (default: the SQLite file's scan time); with
    `publish` (a Redis URL) the new scan also publishes every notification, as the worker."""
    from dashboard.db import Session, init_engine
    from dashboard.services.scans import DEFAULT_CHUNK, run_scan

    from . import baseline

    pg = db.startswith("postgresql")
    engine = init_engine(db if pg else db_url(Path(db)))
    session = Session()
    now = now or scan_now(Path(db))
    if mode == "new":
        warm_up(session, scan, now)
    totals = sql_timer(engine) if sql else None
    start_mb = rss_mb()
    cpu0 = cpu_seconds()
    profiler = cProfile.Profile() if profile else None
    spent = [0.0]
    progress = publisher(session, publish, spent) if publish and mode == "new" else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    if mode == "new":
        result = run_scan(session, for_kind(scan).name, now=now, keep_ids=bool(publish),
                          chunk_size=chunk_size or DEFAULT_CHUNK, progress=progress)
        counts = {"scanned": result.scanned, "notifications": result.notified,
                  "chunks": result.chunks}
        if publish:
            counts["publish_seconds"] = round(spent[0], 4)
    elif scan == "high_usage":
        counts = baseline.usage_scan(session, now)
    else:
        counts = baseline.credit_scan(session, scan, now)
    session.commit()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu0
    counts.setdefault("notifications", counts.pop("notified", None))
    out = {"seconds": round(seconds, 4), "cpu_seconds": round(cpu, 4),
           "peak_mb": round(peak_mb(), 1), "start_mb": round(start_mb, 1), **counts}
    if totals is not None:
        out["sql"] = sorted(([round(t, 4), n, k] for k, (t, n) in totals.items()),
                            reverse=True)[:12]
    Session.remove()
    return out


def main() -> None:
    """Command line of the child."""
    p = argparse.ArgumentParser()
    p.add_argument("db", help="a SQLite file or a PostgreSQL URL")
    p.add_argument("scan", choices=KINDS)
    p.add_argument("mode", choices=["new", "baseline", "cli"])
    p.add_argument("--now", type=datetime.fromisoformat, help="the scan's time")
    p.add_argument("--sql", action="store_true")
    p.add_argument("--profile")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--publish", help="Redis URL: publish as the worker does")
    a = p.parse_args()
    if a.mode == "cli":
        print(json.dumps(measure_cli(a.db, a.scan, a.publish)))
        return
    print(json.dumps(measure(a.db, a.scan, a.mode, now=a.now, sql=a.sql, profile=a.profile,
                             chunk_size=a.chunk_size, publish=a.publish)))


if __name__ == "__main__":
    main()
