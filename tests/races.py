"""Two runs of one scan fired together, as two beats (or a beat and "Run now") would."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from dashboard.db import SessionFactory
from dashboard.services.scans import run_scan


def two_scans_at_once(name: str, now: datetime, *, chunk_size: int,
                      apart: timedelta = timedelta(milliseconds=1)) -> list:
    """Run scan `name` in two threads with their own sessions, released together by a
    barrier, the second `apart` later in scan time; both runs' results, in order."""
    barrier, results = threading.Barrier(2), [None, None]

    def work(i: int) -> None:
        session = SessionFactory()
        barrier.wait()
        results[i] = run_scan(session, name, now=now + apart * i, chunk_size=chunk_size)
        session.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
