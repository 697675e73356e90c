"""The task-run state machine (services/scans/runs.py) and one chunk of a run (chunks.py):
every transition, the refused ones, retrying and back, chunk accounting, and a run that
succeeds only once every chunk's notifications are published."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from dashboard import events
from dashboard.db import write_transaction
from dashboard.errors import http_status
from dashboard.models import ACTIVE_STATES, RUN_STATES, Notification, TaskRun, TaskRunChunk, Wallet
from dashboard.services.scans import chunks, plan
from dashboard.services.scans import runs as task_runs
from tests import factories

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)
LOW = "check_low_credit_wallets"


def started(db, chunk_ranges, task=LOW) -> TaskRun:
    """A run of `task` made and started with these chunks."""
    run = task_runs.create_run(db, task, "manual")
    with write_transaction(db):
        return task_runs.start(db, run.id, chunks=chunk_ranges, scan_now=NOW)


def state_of(db, run_id: int) -> str:
    """The stored state, read afresh."""
    return task_runs.fresh(db, run_id).state


def test_the_table_covers_every_state_and_only_active_states_move():
    """TRANSITIONS names each state of the model once; the final states are the inactive
    ones, and every target is itself a state."""
    assert set(task_runs.TRANSITIONS) == set(RUN_STATES)
    moving = {state for state, moves in task_runs.TRANSITIONS.items() if moves}
    assert moving == set(ACTIVE_STATES)
    assert set(task_runs.FINAL_STATES) == {"succeeded", "failed"}
    assert all(t in RUN_STATES for moves in task_runs.TRANSITIONS.values() for t in moves)


def test_queued_running_retrying_running_succeeded(db):
    """The whole life: queued, running with its plan, a transient error (retrying with the
    reason), the retried chunk recorded (running again), the last one published
    (succeeded, progress full, counts summed)."""
    run = task_runs.create_run(db, LOW, "manual")
    assert (run.state, run.started_at) == ("queued", None)
    with write_transaction(db):
        run = task_runs.start(db, run.id, chunks=[(1, 10), (11, 15)], scan_now=NOW,
                              celery_id="abc")
    assert (run.state, run.chunks_total, run.progress_total, run.attempts, run.celery_id) == \
        ("running", 2, 15, 1, "abc")
    assert run.heartbeat_at is not None and run.scan_now == NOW
    with write_transaction(db):
        run = task_runs.retrying(db, run.id, "OperationalError: database is locked")
    assert run.state == "retrying" and "locked" in run.error
    with write_transaction(db):
        first = task_runs.claim_chunk(db, run.id, 1, 10)
        task_runs.record_chunk(db, first, scanned=10, notified=3, skipped=1)
    assert state_of(db, run.id) == "running"
    with write_transaction(db):
        run = task_runs.chunk_published(db, first.id)
    assert (run.state, run.chunks_done, run.chunks_published, run.progress_done) == \
        ("running", 1, 1, 10)
    with write_transaction(db):
        last = task_runs.claim_chunk(db, run.id, 11, 15)
        task_runs.record_chunk(db, last, scanned=5, notified=2, skipped=0)
        run = task_runs.chunk_published(db, last.id)
    assert run.state == "succeeded" and run.finished_at is not None
    assert (run.scanned, run.notified, run.skipped, run.progress_done) == (15, 5, 1, 15)
    assert task_runs.outcome(run) == {
        "task_run_id": run.id, "task": LOW, "state": "succeeded", "chunks": 2,
        "result": {"scanned": 15, "notified": 5, "skipped": 1},
        "error": "OperationalError: database is locked"}


def test_a_plan_without_chunks_succeeds_at_once(db):
    """Nothing to scan (an empty table): running, then succeeded in the same step."""
    run = started(db, [])
    assert run.state == "succeeded" and run.started_at and run.finished_at


def test_a_running_run_is_not_started_again(db):
    """A second delivery of the coordinator racing the first: the second start is refused,
    so the plan is not queued twice."""
    run = started(db, [(1, 5)])
    with pytest.raises(task_runs.IllegalTransition, match="running already"):
        task_runs.start(db, run.id, chunks=[(1, 5)], scan_now=NOW)
    db.rollback()
    assert task_runs.fresh(db, run.id).attempts == 1


def test_a_coordinator_retried_after_a_transient_error_starts_the_run(db):
    """queued → retrying (the planning failed) → running on the retry."""
    run = task_runs.create_run(db, LOW, "schedule")
    with write_transaction(db):
        task_runs.retrying(db, run.id, "OperationalError: busy")
        run = task_runs.start(db, run.id, chunks=[(1, 5)], scan_now=NOW)
    assert run.state == "running" and run.error is None and run.attempts == 1


@pytest.mark.parametrize("final", ["succeeded", "failed"])
def test_a_finished_run_refuses_every_move(db, final):
    """Starting, retrying or failing a finished run is refused (409), and changes nothing;
    failing a failed run again keeps its first error."""
    run = started(db, [(1, 5)])
    with write_transaction(db):
        if final == "failed":
            task_runs.fail(db, run.id, "first error")
        else:
            chunk = task_runs.claim_chunk(db, run.id, 1, 5)
            task_runs.record_chunk(db, chunk, scanned=5, notified=0, skipped=0)
            task_runs.chunk_published(db, chunk.id)
    moves = [lambda: task_runs.start(db, run.id, chunks=[(1, 5)], scan_now=NOW),
             lambda: task_runs.retrying(db, run.id, "again")]
    if final == "succeeded":
        moves.append(lambda: task_runs.fail(db, run.id, "too late"))
    for move in moves:
        with pytest.raises(task_runs.IllegalTransition) as refused:
            move()
        assert http_status(refused.value) == 409 and final in refused.value.message
        db.rollback()
    if final == "failed":
        with write_transaction(db):
            task_runs.fail(db, run.id, "second error")
    run = task_runs.fresh(db, run.id)
    assert run.state == final
    assert run.error == ("first error" if final == "failed" else None)


def test_a_queued_run_takes_no_chunks_and_cannot_succeed_by_publishing(db):
    """A chunk recorded for a run that never started is refused."""
    run = task_runs.create_run(db, LOW, "manual")
    with pytest.raises(task_runs.IllegalTransition):
        with write_transaction(db):
            chunk = task_runs.claim_chunk(db, run.id, 1, 5)
            task_runs.record_chunk(db, chunk, scanned=5, notified=0, skipped=0)
    assert db.scalar(select(func.count()).select_from(TaskRunChunk)) == 0  # rolled back
    assert state_of(db, run.id) == "queued"


def test_a_chunk_of_a_run_that_was_reaped_is_rolled_back_with_its_notifications(db, app):
    """The reaper failed the run while a chunk was working: the chunk's notifications and
    counts are rolled back, so the dead run's counts are exactly what it stored."""
    factories.bulk_wallets(db, 9)
    db.commit()
    run = started(db, plan(db, LOW, 100))
    with write_transaction(db):
        task_runs.fail(db, run.id, task_runs.REAPED)
    done = chunks.work(db, run.id, LOW, 1, 9, tz="Africa/Johannesburg")
    assert done.chunk_id is None and "not running" in done.answer["skipped"]
    # Reaped between the check and the record: the same, through the state machine.
    run2 = started(db, plan(db, "check_critical_credit_wallets", 100),
                   task="check_critical_credit_wallets")
    first = db.scalar(select(func.min(Wallet.id)))
    with pytest.raises(task_runs.IllegalTransition):
        with write_transaction(db):
            chunk = task_runs.claim_chunk(db, run2.id, first, first + 8)
            task_runs.fail(db, run2.id, task_runs.REAPED)
            task_runs.record_chunk(db, chunk, scanned=9, notified=3, skipped=0)
    assert db.scalar(select(func.count()).select_from(Notification)) == 0
    assert task_runs.fresh(db, run2.id).scanned == 0


def test_the_run_succeeds_only_after_every_chunk_is_published(db, app):
    """Two chunks on two workers, interleaved: A commits, B commits and publishes. Every
    chunk is in, but A has not published: the run is still running. A publishes: succeeded.
    (Before, the last chunk to commit marked the run succeeded while A still published.)"""
    factories.bulk_wallets(db, 6)
    db.commit()
    ranges = plan(db, LOW, 3)
    run = started(db, ranges)
    tz = "Africa/Johannesburg"
    a = chunks.work(db, run.id, LOW, *ranges[0], tz=tz)
    b = chunks.work(db, run.id, LOW, *ranges[1], tz=tz)
    mid = task_runs.fresh(db, run.id)
    assert (mid.chunks_done, mid.chunks_total, mid.state) == (2, 2, "running")
    chunks.publish(db, b, events)
    mid = task_runs.fresh(db, run.id)
    assert (mid.chunks_published, mid.state, mid.finished_at) == (1, "running", None)
    final = chunks.publish(db, a, events)
    assert (final.chunks_published, final.state) == (2, "succeeded")
    assert final.notified == 2 == len(a.notification_ids) + len(b.notification_ids)


def test_a_chunk_delivered_twice_counts_once_and_publishes_what_the_first_did_not(db, app):
    """The second delivery of a chunk whose first delivery published finds its row and does
    nothing. If the first died between its commit and its publish, the second publishes that
    chunk's notifications and counts it published, once: the run can finish."""
    factories.bulk_wallets(db, 6)
    db.commit()
    ranges = plan(db, LOW, 3)
    run = started(db, ranges)
    tz = "Africa/Johannesburg"
    first = chunks.run_chunk(db, run.id, LOW, *ranges[0], tz=tz, publisher=events)
    again = chunks.run_chunk(db, run.id, LOW, *ranges[0], tz=tz, publisher=events)
    assert first["scanned"] == 3 and again == {"duplicate": True}
    died = chunks.work(db, run.id, LOW, *ranges[1], tz=tz)  # committed, never published
    assert state_of(db, run.id) == "running"
    redelivered = chunks.work(db, run.id, LOW, *ranges[1], tz=tz)
    assert redelivered.answer == {"duplicate": True, "republished": 1}
    assert redelivered.notification_ids == died.notification_ids
    final = chunks.publish(db, redelivered, events)
    assert (final.state, final.chunks_done, final.chunks_published, final.notified) == \
        ("succeeded", 2, 2, 2)
    # The late publish of the first delivery (had it lived) counts nothing more.
    with write_transaction(db):
        task_runs.chunk_published(db, died.chunk_id)
    assert task_runs.fresh(db, run.id).chunks_published == 2


def test_reaping_uses_the_silence_it_is_given(db):
    """stale_after is passed in (TASK_RUN_STALE_SECONDS of the app or worker that asks):
    the same heartbeat is stale for 5 seconds and fresh for 10 minutes."""
    now = datetime.now(timezone.utc)
    run = TaskRun(task=LOW, trigger="schedule", state="running", queued_at=now,
                  heartbeat_at=now - timedelta(seconds=30))
    db.add(run)
    db.commit()
    assert task_runs.reap_stale(db, now, stale_after=timedelta(minutes=10)) == []
    assert task_runs.reap_stale(db, now, stale_after=task_runs.stale_after(5)) == [run.id]
    db.commit()
    assert state_of(db, run.id) == "failed"
