"""SQLite's write lock under contention, with and without the writer queue (dashboard/db.py).

`python -m bench writers`: three processes (one with eight threads, two with one) make short
write transactions on one SQLite file for a while, as the web's request threads and the
worker's processes do; one JSON line per mode with the write latency percentiles and the
writes a second. Mode `plain` leaves waiting to SQLite's busy handler, mode `queue` uses
`WriterQueue` as `write_transaction` does.
"""
from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

from .common import OUT, emit, load, percentile

HOLD = 0.001  # seconds of work under the lock per write (a top-up's transaction is ~1 ms)
PAUSE = 0.01  # between one thread's writes


def _writer_process(path: str, threads: int, seconds: float, queued: bool, out) -> None:
    """Write from `threads` threads for `seconds`; put the latencies on `out`."""
    from sqlalchemy import text

    from dashboard import db

    db.init_engine(f"sqlite:///{path}")
    if not queued:
        db._writers = None  # what write_transaction does without the queue
    latencies: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        """Short write transactions until the time is up."""
        session = db.SessionFactory()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            with db.write_transaction(session):
                session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                session.execute(text("INSERT INTO log (v) VALUES (:v)"), {"v": "x" * 100})
                time.sleep(HOLD)
            with lock:
                latencies.append(time.perf_counter() - started)
            time.sleep(PAUSE)
        session.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(latencies)


def measure(queued: bool, seconds: float = 10.0) -> dict:
    """One mode: a fresh database, three writer processes, their latencies together."""
    path = OUT / "writers.db"
    for suffix in ("", "-wal", "-shm", "-writers.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO counter VALUES (1, 0)")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    before = load()
    procs = [ctx.Process(target=_writer_process, args=(str(path), threads, seconds, queued, out))
             for threads in (8, 1, 1)]
    for p in procs:
        p.start()
    lat = sorted(x * 1000 for _ in procs for x in out.get())
    for p in procs:
        p.join()
    return {"bench": "writers", "mode": "queue" if queued else "plain", "seconds": seconds,
            "writes": len(lat), "writes_per_s": round(len(lat) / seconds),
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1), "max_ms": round(lat[-1], 1),
            "load_before": before, "load_after": load()}


def run(repeats: int = 2, seconds: float = 10.0) -> list[dict]:
    """Both modes, alternating, `repeats` times each."""
    return [emit(measure(queued, seconds)) for _ in range(repeats) for queued in (False, True)]
