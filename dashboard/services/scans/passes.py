"""The scans of the catalogue, set-based and worked in chunks of id ranges.

Each chunk runs a fixed number of statements (see credit_alerts and high_usage) and is
committed on its own, so memory stays flat, locks stay short and progress can be published.
The worker and the CLI run chunks as parts of a task run (`chunks`); the benchmarks and the
tests call `run_scan`, which runs every chunk here without a run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from ...db import write_transaction
from .catalogue import SCANS

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
    lo, hi = id_range(session, SCANS[name].model)
    return [(start, min(start + chunk_size - 1, hi)) for start in range(lo, hi + 1, chunk_size)]


def scan_chunk(session, name: str, first: int, last: int, *, now: datetime,
               task_run_id: int | None = None, tz: str = "Africa/Johannesburg") -> ScanResult:
    """One chunk of scan `name` over ids first..last, in the caller's transaction.

    `chunks.work` calls this for the worker's chunk tasks and the CLI, so several workers (or
    hosts) can share one scan; `run_scan` below calls it in a loop for the benchmarks.
    """
    scan = SCANS[name]
    found = scan.run_pass(session, scan.kind, first, last, now=now, tz=tz,
                          task_run_id=task_run_id)
    return ScanResult(scan=name, scanned=found.scanned, notified=found.notified,
                      skipped=found.skipped, chunks=1,
                      notification_ids=found.notification_ids)


def run_scan(session, name: str, *, now: datetime, task_run_id: int | None = None,
             chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None,
             keep_ids: bool = True, tz: str = "Africa/Johannesburg") -> ScanResult:
    """Run scan `name` (a Celery task name) over every wallet or meter, committing per chunk.

    `progress(done, total, result)` is called after each committed chunk; `done` and `total`
    count ids of the walked table. `keep_ids=False` drops the created notification ids (the
    benchmarks at a million wallets do not need them).
    """
    lo, hi = id_range(session, SCANS[name].model)
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
            done = scan_chunk(session, name, start, end, now=now, task_run_id=task_run_id,
                              tz=tz)
        result.scanned += done.scanned
        result.notified += done.notified
        result.skipped += done.skipped
        result.chunks += 1
        if keep_ids:
            result.notification_ids.extend(done.notification_ids)
        if progress:
            progress(end - lo + 1, total, result)
        start = end + 1
    return result
