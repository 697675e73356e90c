"""The three scheduled scans, set-based and worked in chunks of id ranges.

Each chunk runs a fixed number of statements (see credit_alerts and high_usage) and is
committed on its own, so memory stays flat, locks stay short and progress can be published.
Routes, tasks, the CLI and the benchmarks all call `run_scan`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from ...db import write_transaction
from ...models import Meter, Wallet
from . import credit_alerts, high_usage

SCANS = {
    # Celery task name: (what it looks for, the table it walks)
    "check_low_credit_wallets": "low_credit",
    "check_critical_credit_wallets": "critical_credit",
    "analyze_high_usage": "high_usage",
}
DEFAULT_CHUNK = 20_000


@dataclass
class ScanResult:
    """What a scan found and did."""

    scan: str
    scanned: int = 0
    notified: int = 0
    skipped: int = 0
    chunks: int = 0
    notification_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict:
        """The result counts recorded on the task run."""
        return {"scanned": self.scanned, "notified": self.notified, "skipped": self.skipped}


Progress = Callable[[int, int, ScanResult], None]


def id_range(session, model) -> tuple[int, int]:
    """Smallest and largest id of a table (0, -1 when empty)."""
    lo, hi = session.execute(select(func.min(model.id), func.max(model.id))).one()
    return (lo, hi) if lo is not None else (0, -1)


def plan(session, name: str, chunk_size: int = DEFAULT_CHUNK) -> list[tuple[int, int]]:
    """The id ranges (first, last) that cover the scan's table, in chunks of `chunk_size`."""
    model = Meter if SCANS[name] == "high_usage" else Wallet
    lo, hi = id_range(session, model)
    return [(start, min(start + chunk_size - 1, hi)) for start in range(lo, hi + 1, chunk_size)]


def scan_chunk(session, name: str, first: int, last: int, *, now: datetime,
               task_run_id: int | None = None, tz: str = "Africa/Johannesburg") -> ScanResult:
    """One chunk of scan `name` over ids first..last, in the caller's transaction.

    The chunk subtasks of the worker call this, so several workers (or hosts) can share one
    scan; `run_scan` below calls it in a loop for the CLI and the benchmarks.
    """
    result = ScanResult(scan=name, chunks=1)
    result.notification_ids = _chunk(session, SCANS[name], first, last, now, task_run_id,
                                     result, tz)
    return result


def run_scan(session, name: str, *, now: datetime, task_run_id: int | None = None,
             chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None,
             keep_ids: bool = True, tz: str = "Africa/Johannesburg") -> ScanResult:
    """Run scan `name` (a Celery task name) over every wallet or meter, committing per chunk.

    `progress(done, total, result)` is called after each committed chunk; `done` and `total`
    count ids of the walked table. `keep_ids=False` drops the created notification ids (the
    benchmarks at a million wallets do not need them).
    """
    kind = SCANS[name]
    model = Meter if kind == "high_usage" else Wallet
    lo, hi = id_range(session, model)
    session.commit()
    total = max(hi - lo + 1, 0)
    result = ScanResult(scan=name)
    start = lo
    while start <= hi:
        end = min(start + chunk_size - 1, hi)
        # One write transaction per chunk, begun with the write lock on SQLite (BEGIN
        # IMMEDIATE). A high-usage chunk starts with SELECTs: in a deferred transaction its
        # INSERT could not upgrade a snapshot another scan had since written past, and SQLite
        # fails that at once with "database is locked" instead of waiting its turn.
        with write_transaction(session):
            ids = _chunk(session, kind, start, end, now, task_run_id, result, tz)
        result.chunks += 1
        if keep_ids:
            result.notification_ids.extend(ids)
        if progress:
            progress(end - lo + 1, total, result)
        start = end + 1
    return result


def _chunk(session, kind: str, start: int, end: int, now: datetime, task_run_id, result,
           tz: str) -> list[int]:
    """One chunk of one scan; adds its counts to `result`, returns new notification ids."""
    if kind == "high_usage":
        found = high_usage.analyze(session, Meter.id.between(start, end), now, tz=tz,
                                   task_run_id=task_run_id)
        result.scanned += found.scanned
        result.notified += len(found.notification_ids)
        result.skipped += found.skipped
        return found.notification_ids
    where = Wallet.__table__.c.id.between(start, end)
    credit_alerts.refresh_states(session, where, now)
    done = credit_alerts.alert_pass(session, kind, where, now, task_run_id=task_run_id)
    result.scanned += done.scanned
    result.notified += done.notified
    result.skipped += done.skipped
    return done.notification_ids
