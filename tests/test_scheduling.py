"""Scheduling: two beats started at once fire each entry once (RedBeat's lock), and a scan is
never run twice in parallel, however it is started (Run now clicks racing, two scheduled
deliveries of the same entry, the CLI beside the worker).

The beat test runs two `run.py beat` processes on a private broker database with the test-only
`beat_probe` entry (BEAT_PROBE_SECONDS) and counts the messages they queue.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dashboard.models import TaskRun, utcnow
from tests import factories
from tests.chaos import KillableStack, wait_until

PROBE_SECONDS = 1.0


def queued_tasks(broker: redis.Redis, name: str) -> list[dict]:
    """Headers of the messages for task `name` waiting in the `notifications` queue."""
    found = []
    for raw in broker.lrange("notifications", 0, -1):
        headers = json.loads(raw)["headers"]
        if headers.get("task") == name:
            found.append(headers)
    return found


def sends_in(log: str, name: str) -> int:
    """How many times a beat's log says it sent `name`."""
    return len(re.findall(rf"Sending due task {name} \({name}\)", log))


@pytest.mark.stack
def test_two_beats_started_at_once_fire_each_entry_once(redis_url, tmp_path):
    """Two beats on one Redis, a 1-second test entry, 6 seconds: about 6 deliveries (not 12),
    every one sent by the same beat, never two for one tick; the other beat waits on the lock
    as a hot standby."""
    db_number = 7
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{db_number}"
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    stack = KillableStack(tmp_path, broker_url, BEAT_PROBE_SECONDS=str(PROBE_SECONDS))
    try:
        stack.start_as("beat-a", "beat", wait=False)
        stack.start_as("beat-b", "beat", wait=False)
        first = wait_until(lambda: queued_tasks(broker, "beat_probe"), timeout=30,
                           what="the first beat_probe")
        assert first
        started = time.monotonic()
        time.sleep(6.0)
        stack.check_alive()  # both beats still running: one fires, one waits
        # Stopped before counting, so the queue and the logs are read at rest: a beat still
        # ticking between the two reads made the log one send ahead of the queue.
        stack.stop("beat-a", "beat-b")
        elapsed = time.monotonic() - started
        delivered = queued_tasks(broker, "beat_probe")
        ids = [h["id"] for h in delivered]
        assert len(ids) == len(set(ids))
        # One beat: ~elapsed/interval deliveries (+1 for the first, +1 for timing slack).
        # Two beats firing would give about twice as many.
        assert elapsed / PROBE_SECONDS - 2 <= len(delivered) <= elapsed / PROBE_SECONDS + 2, \
            (len(delivered), elapsed)
        logs = {name: stack.log(name) for name in ("beat-a", "beat-b")}
        senders = [name for name, log in logs.items() if sends_in(log, "beat_probe")]
        assert len(senders) == 1, {n: sends_in(log, "beat_probe") for n, log in logs.items()}
        assert sends_in(logs[senders[0]], "beat_probe") == len(delivered)
    finally:
        stack.close()
        broker.flushdb()


def parallel_posts(app, url: str, headers: dict, n: int) -> list:
    """`n` POSTs released together from `n` threads, each with its own test client."""
    barrier = Barrier(n)

    def post(_):
        client = app.test_client()
        barrier.wait()
        return client.post(url, headers=headers)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(post, range(n)))


def test_twenty_run_now_clicks_at_once_start_one_run(app, db, client):
    """20 Run now requests for one scan at the same moment: one 202, nineteen 409 naming the
    run in the way, one task run recorded."""
    headers = factories.operator_and_token(db, client)
    responses = parallel_posts(app, "/api/v1/scans/check_low_credit_wallets/run", headers, 20)
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * 19, [r.get_json() for r in responses]
    run_id = next(r.get_json()["task_run"]["id"] for r in responses if r.status_code == 202)
    for r in responses:
        if r.status_code == 409:
            body = r.get_json()["error"]
            assert body["code"] == "scan_running" and body["fields"]["task_run_id"] == str(run_id)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(TaskRun)) == 1


def test_the_database_refuses_a_second_active_run_of_a_scan(db):
    """The guarantee under everything else: a partial unique index allows one queued,
    running or retrying run per scan, while finished runs may pile up."""
    for state in ("succeeded", "failed", "succeeded"):
        db.add(TaskRun(task="analyze_high_usage", trigger="schedule", state=state))
    db.add(TaskRun(task="analyze_high_usage", trigger="schedule", state="running"))
    db.commit()
    for state in ("queued", "running", "retrying"):
        db.add(TaskRun(task="analyze_high_usage", trigger="manual", state=state))
        with pytest.raises(IntegrityError):
            db.commit()
        db.rollback()
    db.add(TaskRun(task="check_low_credit_wallets", trigger="manual", state="running"))
    db.commit()  # another scan is independent


@pytest.mark.stack
def test_a_scheduled_scan_delivered_twice_at_once_runs_once(stack):
    """Two deliveries of the same scheduled entry at the same moment (two beats without the
    lock, a redelivery) on the real worker: one run starts, the other is skipped, and the scan
    finishes once."""
    from celery import Celery

    with stack.session() as s:
        assert s.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.task == "analyze_high_usage",
            TaskRun.state.in_(("queued", "running", "retrying")))) == 0
        before = s.scalar(select(func.max(TaskRun.id))) or 0
    client = Celery(broker=stack.redis_url, backend=stack.redis_url)
    try:
        results = [client.send_task("analyze_high_usage", kwargs={"trigger": "schedule"},
                                    queue="notifications") for _ in range(2)]
        outcomes = [r.get(timeout=30) for r in results]
    finally:
        client.close()
    with stack.session() as s:
        runs = s.scalars(select(TaskRun).where(TaskRun.id > before,
                                               TaskRun.task == "analyze_high_usage")
                         .order_by(TaskRun.id)).all()
        assert runs and all(r.trigger == "schedule" for r in runs)
        run_ids = [r.id for r in runs]
    if sum("skipped" in o for o in outcomes) == 1:
        assert len(run_ids) == 1, outcomes  # they met while the first was active
    else:
        # The toy scan finished before the second delivery arrived: a second run is then
        # allowed, but only after the first ended, never beside it.
        assert len(run_ids) == 2, outcomes
    for run_id in run_ids:
        done = wait_until(lambda rid=run_id: (lambda r: r if r.state in ("succeeded", "failed")
                                               else None)(_run(stack, rid)),
                          timeout=30, what="the scheduled run to finish")
        assert done.state == "succeeded"
    if len(run_ids) == 2:
        first, second = (_run(stack, rid) for rid in run_ids)
        assert first.finished_at <= second.started_at, (first.finished_at, second.started_at)


def _run(stack, run_id: int) -> TaskRun:
    """A detached copy of a task run."""
    with stack.session() as s:
        run = s.get(TaskRun, run_id)
        s.expunge(run)
        return run


def test_the_cli_refuses_a_scan_that_is_already_running(tmp_path, redis_url):
    """`run.py scan NAME` while the worker runs the same scan: refused with a one-line
    message and exit status 1, no second run, no traceback."""
    import os
    import subprocess
    import sys

    from dashboard.db import Session, init_engine
    from tests.conftest import fresh_database
    from tests.stack import ROOT

    url = fresh_database(tmp_path, migrate=True)
    init_engine(url)
    Session.add(TaskRun(task="check_low_credit_wallets", trigger="schedule", state="running",
                        started_at=utcnow(), heartbeat_at=utcnow()))
    Session.commit()
    Session.remove()
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": redis_url,
           "SOCKETIO_CHANNEL": f"cli-{uuid.uuid4().hex[:8]}", "SECRET_KEY": "cli-test-secret"}
    out = subprocess.run([sys.executable, "run.py", "scan", "check_low_credit_wallets"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out
    assert "already running" in out.stderr and "Traceback" not in out.stderr, out.stderr
    init_engine(url)
    assert Session.scalar(select(func.count()).select_from(TaskRun)) == 1
    Session.remove()


@pytest.mark.stack
def test_the_beat_rides_out_a_redis_restart(tmp_path):
    """Redis killed under a running beat for 3 s and started again empty: the beat does not
    exit; it takes its lock again, stores the schedule again and keeps firing (stock RedBeat
    exited on the first connection error)."""
    stack = KillableStack(tmp_path, BEAT_PROBE_SECONDS=str(PROBE_SECONDS))
    try:
        stack.start_as("beat", "beat", wait=False)
        broker = redis.Redis.from_url(stack.redis_url)
        wait_until(lambda: queued_tasks(broker, "beat_probe"), timeout=30, what="first probe")
        stack.stop_redis()
        time.sleep(3)
        stack.check_alive()
        stack.start_redis()
        broker = redis.Redis.from_url(stack.redis_url)
        wait_until(lambda: len(queued_tasks(broker, "beat_probe")) >= 2, timeout=30,
                   what="probes after the restart")
        stack.check_alive()
        log = stack.log("beat")
        assert "Redis is unavailable" in log and "lock and schedule restored" in log
    finally:
        stack.close()
