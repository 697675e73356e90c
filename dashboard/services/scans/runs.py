"""Task runs: the one state machine of a scan run, its chunk accounting and reaping.

A run is `queued` when asked for, `running` once a worker planned its chunks, `succeeded`
when every chunk is in and published, `failed` on an error or when its worker went silent
(reaped), and `retrying` while a chunk (or the coordinator) waits to be retried after a
transient error; the next recorded chunk makes it `running` again. TRANSITIONS is the whole
table. Every change of a run is a conditional UPDATE here whose WHERE names the states the
move is allowed from, so two workers, the reaper and Run now can race on one row and only
legal moves get through; anything else is refused with IllegalTransition. No other module
writes task_runs (or task_run_chunks) rows.

Chunks: each chunk of a run is a row in task_run_chunks, claimed (`claim_chunk`) and counted
on the run (`record_chunk`) in the transaction that stores the chunk's notifications, so a
chunk delivered twice finds its row and does nothing. Once its notifications are published,
`chunk_published` stamps the row and bumps the run's `chunks_published`, once per chunk; the
bump that completes the plan marks the run succeeded. A run is therefore never reported
finished while one of its chunks (on another worker, say) is still publishing.

Every function works in the caller's transaction and leaves the commit to it, except
`create_run`, which commits (its check and insert must be one write transaction).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...db import write_transaction
from ...models import ACTIVE_STATES, TaskRun, TaskRunChunk, utcnow
from ...models.types import UTCDateTime
from .. import webhooks
from ..errors import Conflict

#: state → the states a run may move to from it.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "retrying", "failed"),
    "running": ("retrying", "succeeded", "failed"),
    "retrying": ("running", "succeeded", "failed"),
    "succeeded": (),
    "failed": (),
}
#: States in which a run takes chunks (a chunk recorded while `retrying` makes it `running`).
TAKES_CHUNKS = ("running", "retrying")
FINAL_STATES = tuple(state for state, moves in TRANSITIONS.items() if not moves)
REAPED = "The worker stopped reporting progress (lost or killed); run the scan again."


class IllegalTransition(Conflict):
    """A move the state machine does not allow (a finished run asked to start, say)."""

    code = "illegal_transition"


class ChunkDone(Exception):
    """The chunk already has its row: an earlier delivery of it did (or is doing) the work."""


def stale_after(seconds: float) -> timedelta:
    """The silence after which a run counts as dead (TASK_RUN_STALE_SECONDS)."""
    return timedelta(seconds=seconds)


def _sources(target: str) -> list[str]:
    """The states a run may reach `target` from."""
    return [state for state, moves in TRANSITIONS.items() if target in moves]


def _move(session, run_id: int, target: str, *where, refuse: bool = True, **values) -> bool:
    """Move run `run_id` to `target` (setting `values`) if its state allows it and `where`
    holds. A run already in `target` is left alone (False); any other refusal raises
    IllegalTransition unless `refuse` is False."""
    moved = session.execute(
        update(TaskRun).where(TaskRun.id == run_id, TaskRun.state.in_(_sources(target)), *where)
        .values(state=target, **values).execution_options(synchronize_session=False)).rowcount
    if moved and target in FINAL_STATES:
        webhooks.task_runs_finished(session, [run_id], utcnow())
    if moved or not refuse:
        return bool(moved)
    state = session.scalar(select(TaskRun.state).where(TaskRun.id == run_id))
    if state == target:
        return False
    raise IllegalTransition(f"Run {run_id} is {state or 'missing'}; it cannot become {target}.")


def fresh(session, run_id: int) -> TaskRun | None:
    """The run as the database has it now (after the UPDATEs of this module)."""
    return session.get(TaskRun, run_id, populate_existing=True)


# -- queued --------------------------------------------------------------------------------

def active_run(session, task: str) -> TaskRun | None:
    """The queued, running or retrying run of `task`, if any."""
    return session.scalars(select(TaskRun).where(TaskRun.task == task,
                                                 TaskRun.state.in_(ACTIVE_STATES))
                           .order_by(TaskRun.id.desc()).limit(1)).first()


def create_run(session, task: str, trigger: str, *, user=None,
               stale_after: timedelta | None = None) -> TaskRun:
    """Record (and commit) a queued run. Refused (409) while the same scan is active.

    With `stale_after`, runs silent for that long are reaped first, so a dead run does not
    block a new one. The check and the insert are one write transaction, begun under SQLite's
    write lock: in a deferred transaction the SELECTs took a snapshot, and when a scan chunk
    committed before the INSERT, SQLite refused the upgrade at once ("database is locked", a
    503 for Run now) instead of waiting; and two Run now clicks could both pass the check.
    """
    try:
        with write_transaction(session):
            if stale_after is not None:
                reap_stale(session, stale_after=stale_after)
            _refuse_if_active(session, task)
            run = TaskRun(task=task, trigger=trigger, state="queued", queued_at=utcnow(),
                          requested_by_id=getattr(user, "id", None),
                          requested_by=getattr(user, "email", None) or trigger)
            session.add(run)
            session.flush()
    except IntegrityError:
        # The one-active-run index: another process started this scan a moment ago.
        _refuse_if_active(session, task)
        raise
    return run


def _refuse_if_active(session, task: str) -> None:
    """409 naming the active run of `task`, if there is one."""
    current = active_run(session, task)
    if current is not None:
        raise Conflict(f"{task} is already {current.state} (run {current.id}).",
                       code="scan_running", fields={"task_run_id": str(current.id)})


def set_celery_id(session, run_id: int, celery_id: str) -> None:
    """Remember the id of the task that carries the run (no change of state)."""
    session.execute(update(TaskRun).where(TaskRun.id == run_id).values(celery_id=celery_id)
                    .execution_options(synchronize_session=False))


# -- running -------------------------------------------------------------------------------

def start(session, run_id: int, *, chunks: Sequence[tuple[int, int]], scan_now: datetime,
          celery_id: str | None = None) -> TaskRun:
    """queued (or retrying) → running with its plan: the id ranges `chunks`, judged against
    `scan_now` by every chunk. A plan without chunks succeeds at once. A run that is running
    already is refused too (a second delivery of its coordinator must not plan it again)."""
    now = utcnow()
    values = {"celery_id": celery_id} if celery_id else {}
    moved = _move(session, run_id, "running",
          started_at=func.coalesce(TaskRun.started_at, literal(now, UTCDateTime())),
          heartbeat_at=now, attempts=TaskRun.attempts + 1, error=None, scan_now=scan_now,
          progress_total=sum(last - first + 1 for first, last in chunks), progress_done=0,
          chunks_total=len(chunks), chunks_done=0, chunks_published=0, **values)
    if not moved:
        raise IllegalTransition(f"Run {run_id} is running already.")
    _finish_if_complete(session, run_id, now)
    return fresh(session, run_id)


def claim_chunk(session, run_id: int, first: int, last: int) -> TaskRunChunk:
    """The chunk's row, written first in its transaction; ChunkDone if it exists already.

    On ChunkDone the transaction is spoilt: the caller rolls it back (write_transaction
    does when the exception leaves it).
    """
    chunk = TaskRunChunk(task_run_id=run_id, first_id=first, last_id=last)
    session.add(chunk)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ChunkDone(f"chunk {first}-{last} of run {run_id} is done") from exc
    return chunk


def record_chunk(session, chunk: TaskRunChunk, *, scanned: int, notified: int,
                 skipped: int) -> None:
    """Count a claimed chunk on its run and beat the heart; a retrying run is running again.

    IllegalTransition when the run no longer takes chunks (reaped, or failed by another
    chunk): the caller rolls back, so the chunk's notifications go with it and the run's
    counts stay exactly what it stored.
    """
    chunk.scanned, chunk.notified, chunk.skipped = scanned, notified, skipped
    counted = session.execute(
        update(TaskRun).where(TaskRun.id == chunk.task_run_id, TaskRun.state.in_(TAKES_CHUNKS))
        .values(state="running", heartbeat_at=utcnow(),
                progress_done=TaskRun.progress_done + (chunk.last_id - chunk.first_id + 1),
                scanned=TaskRun.scanned + scanned, notified=TaskRun.notified + notified,
                skipped=TaskRun.skipped + skipped, chunks_done=TaskRun.chunks_done + 1)
        .execution_options(synchronize_session=False)).rowcount
    if not counted:
        state = session.scalar(select(TaskRun.state).where(TaskRun.id == chunk.task_run_id))
        raise IllegalTransition(f"Run {chunk.task_run_id} is {state or 'missing'}; "
                                "it takes no more chunks.")


def unpublished_chunk(session, run_id: int, first: int) -> TaskRunChunk | None:
    """The chunk's row if it was recorded but its notifications were never published."""
    return session.scalars(select(TaskRunChunk).where(
        TaskRunChunk.task_run_id == run_id, TaskRunChunk.first_id == first,
        TaskRunChunk.published_at.is_(None))).first()


def chunk_published(session, chunk_id: int) -> TaskRun:
    """The chunk's notifications are out: count it once, and succeed the run if it was the
    last one. Safe to call twice for a chunk (the second call counts nothing)."""
    now = utcnow()
    stamped = session.execute(
        update(TaskRunChunk).where(TaskRunChunk.id == chunk_id,
                                   TaskRunChunk.published_at.is_(None))
        .values(published_at=now).execution_options(synchronize_session=False)).rowcount
    run_id = session.scalar(select(TaskRunChunk.task_run_id).where(TaskRunChunk.id == chunk_id))
    if stamped:
        session.execute(update(TaskRun).where(TaskRun.id == run_id)
                        .values(chunks_published=TaskRun.chunks_published + 1)
                        .execution_options(synchronize_session=False))
    _finish_if_complete(session, run_id, now)
    return fresh(session, run_id)


def _finish_if_complete(session, run_id: int, now: datetime) -> bool:
    """running (or retrying) → succeeded once every chunk of the plan is published."""
    return _move(session, run_id, "succeeded", TaskRun.chunks_published >= TaskRun.chunks_total,
                 refuse=False, finished_at=now, progress_done=TaskRun.progress_total)


# -- retrying, failed, reaped --------------------------------------------------------------

def retrying(session, run_id: int, error: str) -> TaskRun:
    """queued or running → retrying: a transient error, and the work will be tried again."""
    _move(session, run_id, "retrying", error=error[:2000])
    return fresh(session, run_id)


def fail(session, run_id: int, error: str) -> TaskRun:
    """An active run → failed with `error` (a failed run keeps its first error)."""
    _move(session, run_id, "failed", error=error[:2000], finished_at=utcnow())
    return fresh(session, run_id)


def reap_stale(session, now: datetime | None = None, *, stale_after: timedelta) -> list[int]:
    """Fail the runs whose worker went silent, so none stays active forever; their ids.

    Silent: running with no heartbeat for `stale_after`, or queued an hour without ever
    having one (its task never reached a worker).
    """
    now = now or utcnow()
    stale = or_(TaskRun.heartbeat_at < now - stale_after,
                TaskRun.heartbeat_at.is_(None) & (TaskRun.queued_at < now - timedelta(hours=1)))
    reaped = list(session.scalars(
        update(TaskRun).where(TaskRun.state.in_(_sources("failed")), stale)
        .values(state="failed", finished_at=now, error=REAPED)
        .returning(TaskRun.id).execution_options(synchronize_session=False)))
    webhooks.task_runs_finished(session, reaped, now)
    return reaped


# -- the result ----------------------------------------------------------------------------

def outcome(run: TaskRun) -> dict:
    """What a scan task returns: the run's id, scan, state, chunks and result counts (as in
    the task run's JSON), and its error if it has one."""
    result = {"task_run_id": run.id, "task": run.task, "state": run.state,
              "chunks": run.chunks_total,
              "result": {"scanned": run.scanned, "notified": run.notified,
                         "skipped": run.skipped}}
    if run.error:
        result["error"] = run.error
    return result
