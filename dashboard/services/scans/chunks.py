"""One chunk of a scan run, done exactly once and then published: the worker's chunk tasks
and the CLI both run their chunks through here.

`work` claims the chunk's row, runs the scan's pass and counts it on the run, all in one write
transaction; `publish` sends what it made and then tells the run (`runs.chunk_published`),
which succeeds the run after its last chunk. Publishing is passed in (`publisher`, the events
module in practice) because services never emit themselves.

Delivered twice (a retry, a redelivery after a lost worker), a chunk finds its row and does no
work. If the first delivery died between its commit and its publish, the second publishes the
chunk's notifications (found by run and id range) so the run can still finish.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from ...db import write_transaction
from ...models import Notification, TaskRun
from . import runs
from .catalogue import SCANS


class Publisher(Protocol):
    """What a chunk needs to tell browsers about (dashboard.events has both)."""

    def publish_scan_notifications(self, session, ids, *, task_run_id: int | None) -> int:
        """Send a chunk's notifications to its connected recipients, and operators a
        summary of them."""

    def publish_task_run(self, run: TaskRun) -> None:
        """Send the run's new state and progress to operators."""


@dataclass
class ChunkWork:
    """What `work` did: the chunk row to publish (None: nothing to publish) and the answer."""

    chunk_id: int | None
    answer: dict
    notification_ids: list[int] = field(default_factory=list)
    task_run_id: int | None = None


def work(session, run_id: int, name: str, first: int, last: int, *, tz: str) -> ChunkWork:
    """Scan ids first..last for run `run_id` of scan `name`, once, in one write transaction.

    Errors of the pass propagate (the transaction rolled back, nothing recorded); the caller
    decides between `runs.retrying` and `runs.fail`.
    """
    run = runs.fresh(session, run_id)
    if run is None or run.state not in runs.TAKES_CHUNKS:
        return ChunkWork(None, {"skipped": "the run is not running"})
    scan = SCANS[name]
    try:
        with write_transaction(session):
            chunk = runs.claim_chunk(session, run_id, first, last)
            found = scan.run_pass(session, scan.kind, first, last, now=run.scan_now, tz=tz,
                                  task_run_id=run_id)
            runs.record_chunk(session, chunk, scanned=found.scanned, notified=found.notified,
                              skipped=found.skipped)
    except runs.ChunkDone:
        return _done_before(session, run_id, scan, first)
    except runs.IllegalTransition as exc:
        return ChunkWork(None, {"skipped": exc.message})
    return ChunkWork(chunk.id, {"task_run_id": run_id, "first": first, "scanned": found.scanned,
                                "notified": found.notified, "skipped": found.skipped},
                     list(found.notification_ids), run_id)


def _done_before(session, run_id: int, scan, first: int) -> ChunkWork:
    """A chunk an earlier delivery recorded: nothing to do, unless it never got published."""
    chunk = runs.unpublished_chunk(session, run_id, first)
    if chunk is None:
        return ChunkWork(None, {"duplicate": True})
    key = scan.notification_key
    ids = list(session.scalars(select(Notification.id).where(
        Notification.task_run_id == run_id, key.between(chunk.first_id, chunk.last_id))
        .order_by(Notification.id)))
    return ChunkWork(chunk.id, {"duplicate": True, "republished": len(ids)}, ids, run_id)


def publish(session, done: ChunkWork, publisher: Publisher) -> TaskRun | None:
    """Send the chunk's notifications (individually to connected residents, as one summary
    to operators), then count it as published (the run may succeed); publish the run's
    progress. The run, or None when there was nothing to publish."""
    if done.chunk_id is None:
        return None
    publisher.publish_scan_notifications(session, done.notification_ids,
                                         task_run_id=done.task_run_id)
    with write_transaction(session):
        run = runs.chunk_published(session, done.chunk_id)
    publisher.publish_task_run(run)
    return run


def run_chunk(session, run_id: int, name: str, first: int, last: int, *, tz: str,
              publisher: Publisher) -> dict:
    """`work` then `publish`: one chunk start to end; the chunk task's answer."""
    done = work(session, run_id, name, first, last, tz=tz)
    publish(session, done, publisher)
    return done.answer

