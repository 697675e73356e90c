"""Where a client may resume `sync` without skipping a notification that has yet to commit.

Notification ids increase in the order rows are inserted, not in the order they commit. On
PostgreSQL two writers can interleave: the first inserts id 10 and keeps its transaction
open, the second inserts 11 and commits, a client syncs and receives 11, and then 10 commits.
A client that resumes after 11 never sees 10. So the answer to `sync` says where to resume:
at most `settled_id`, the largest id up to which every notification that will ever exist is
already committed (rolled-back and skipped ids included). The client keeps what it already
has by id, so the few rows sent again are not shown twice.

SQLite has one writer at a time, and a writer's ids are above every committed id, so every
visible id is settled (None: no limit).

PostgreSQL: `allocated` is the sequence's last value (ids handed out, committed or not). If no
other transaction holds a write lock on notifications (pg_locks, RowExclusiveLock: held from
before a writer's first id to its end), everything up to `allocated` is settled. Otherwise
every id at or below a value the sequence had before the oldest such transaction began is
settled: this process keeps recent (time, allocated) samples, and returns the latest sample
older than that transaction, or None-known (`UNKNOWN`) if it has none. The sequence must hand
out ids one at a time (CACHE 1, the default of SERIAL and IDENTITY), as ours does.
"""
from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

from sqlalchemy import text

UNKNOWN = -1  # writers in flight and no sample older than them: resume where the client was
SAMPLES = 256  # (time, allocated) pairs kept: a few minutes of syncs on a busy web process

_samples: deque[tuple[datetime, int]] = deque(maxlen=SAMPLES)
_lock = threading.Lock()

_ALLOCATED = text("SELECT coalesce(pg_sequence_last_value("
                  "pg_get_serial_sequence('notifications', 'id')::regclass), 0)")
# Read after _ALLOCATED, so `clock_timestamp()` is no earlier than that read.
_WRITERS = text(
    "SELECT clock_timestamp(), count(*), min(a.xact_start), "
    "bool_or(a.xact_start IS NULL) "
    "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'relation' AND l.relation = 'notifications'::regclass "
    "AND l.mode = 'RowExclusiveLock' AND l.pid IS DISTINCT FROM pg_backend_pid()")


def settled_id(session) -> int | None:
    """The largest notification id below which nothing can still commit: None when every
    committed id is (SQLite), UNKNOWN when it cannot be told now (see the module docstring).
    Call it before reading the rows it is to bound."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    allocated = int(session.scalar(_ALLOCATED))
    at, writers, oldest, hidden = session.execute(_WRITERS).one()
    with _lock:
        if _samples and allocated < _samples[-1][1]:
            # The sequence went back (a restored database, a TRUNCATE … RESTART IDENTITY as
            # the tests do between cases): older samples no longer describe these ids.
            _samples.clear()
        _samples.append((at, allocated))
        if not writers:
            return allocated
        if hidden or oldest is None:  # a writer we cannot date (another role, a prepared one)
            return UNKNOWN
        before = [value for when, value in _samples if when < oldest]
    return max(before) if before else UNKNOWN


def resume_after(after_id: int, last_sent: int | None, settled: int | None) -> int:
    """Where the next `sync` should start: after what was sent, but never past `settled`,
    and never before where this one started (`after_id` came from an earlier answer)."""
    last = max(after_id, last_sent or 0)
    if settled is None:
        return last
    if settled == UNKNOWN:
        return after_id
    return max(after_id, min(last, settled))
