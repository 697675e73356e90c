"""Scans on the real worker: `<scan>.delay().get()` answers with the finished run's result,
the worker sends the task events Flower shows, and a transient error makes the run
`retrying` and then running and succeeded again."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading

import pytest
from celery import Celery
from sqlalchemy import func, select

from dashboard.models import ACTIVE_STATES, Notification, TaskRun
from tests import factories
from tests.chaos import KillableStack, wait_until
from tests.stack import ROOT
from tests.test_worker import EventTap

pytestmark = pytest.mark.stack

LOW = "check_low_credit_wallets"


class TaskEvents:
    """Celery task events on a broker, as Flower receives them: (type, uuid, name)."""

    def __init__(self, broker_url: str):
        """Listen from now on, in a thread."""
        self.app = Celery("event-tests", broker=broker_url)
        self.seen: list[dict] = []
        self.ready = threading.Event()
        self._receiver = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "the event receiver did not start"

    def _run(self):
        """Capture every task event until closed; `ready` once the consumer is set up."""
        ready = self.ready

        class Receiver(self.app.events.Receiver):
            """The stock receiver, saying when it consumes."""

            def on_consume_ready(self, *args, **kwargs):
                """Consuming: events from now on are seen."""
                super().on_consume_ready(*args, **kwargs)
                ready.set()

        with self.app.connection_for_read() as conn:
            self._receiver = Receiver(conn, handlers={"*": self.seen.append})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def of(self, kind: str) -> list[dict]:
        """Events of one type (task-received, task-succeeded, ...)."""
        return [e for e in list(self.seen) if e.get("type") == kind]

    def close(self):
        """Stop listening."""
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(5)
        self.app.close()


def no_active_run(stack, name: str) -> bool:
    """True once no run of `name` is queued, running or retrying."""
    with stack.session() as s:
        return not s.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.task == name, TaskRun.state.in_(ACTIVE_STATES)))


def test_delay_get_returns_the_finished_runs_counts_and_flower_sees_the_tasks(stack):
    """The seed's manual trigger, typed in a shell beside the worker:
    `check_low_credit_wallets.delay().get()` answers only when the run has finished, with its
    state and counts (the same as the task run's), not the moment the chunks are queued.
    Meanwhile the worker sends the task events Flower lists: the coordinator, its chunks and
    the finishing task, each received and succeeded."""
    with stack.session() as s:
        estate = factories.estate(s)
        for balance in ("20.00", "30.00", "90.00"):
            factories.wallet(s, balance, threshold="50.00", estate_obj=estate)
    wait_until(lambda: no_active_run(stack, LOW), timeout=60, what="no active low-credit run")
    events = TaskEvents(stack.redis_url)
    try:
        code = ("import json; from worker.scan_tasks import check_low_credit_wallets as scan; "
                "print(json.dumps(scan.delay().get(timeout=90)))")
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=stack.env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        with stack.session() as s:
            run = s.get(TaskRun, answer["task_run_id"])
            made = s.scalar(select(func.count()).select_from(Notification)
                            .where(Notification.task_run_id == run.id))
            assert run.state == "succeeded" and run.finished_at is not None
            assert answer == {"task_run_id": run.id, "task": LOW, "state": "succeeded",
                              "chunks": run.chunks_total,
                              "result": {"scanned": run.scanned, "notified": run.notified,
                                         "skipped": run.skipped}}
            assert run.chunks_published == run.chunks_total >= 1
            assert run.scanned >= 3 and run.notified == made
        received = wait_until(lambda: (lambda names: names if {LOW, "scan_chunk", "finish_scan"}
                                       <= names else None)(
            {e.get("name") for e in events.of("task-received")}), timeout=10,
            what="task-received events of the scan's tasks")
        assert received
        coordinator = next(e["uuid"] for e in events.of("task-received") if e["name"] == LOW)
        # The finishing task inherited the coordinator's id: that is the id .get() waited on.
        wait_until(lambda: any(e["uuid"] == coordinator for e in events.of("task-succeeded")),
                   timeout=10, what="task-succeeded of the scan")
        assert events.of("task-sent"), "the worker sends task-sent for the chunks it queues"
    finally:
        events.close()


def test_a_transient_error_makes_the_run_retrying_then_running_and_succeeded(
        redis_url, tmp_path):
    """Three chunks on a real worker whose database fails them with an OperationalError (the
    error a locked or unreachable database raises; here the chunk table is briefly renamed
    away): the run goes `retrying` with the reason, the chunks are retried with backoff once
    the table is back, and the run is running again and then succeeded, every wallet
    counted once."""
    stack = KillableStack(tmp_path, redis_url.rsplit("/", 1)[0] + "/10",
                          SCAN_CHUNK_SIZE="100", WORKER_CONCURRENCY="1")
    path = stack.db_url.removeprefix("sqlite:///")
    try:
        with stack.session() as s:
            factories.bulk_wallets(s, 300)
        stack.start("worker")
        tap = EventTap(stack)
        with sqlite3.connect(path) as conn:
            conn.execute("ALTER TABLE task_run_chunks RENAME TO task_run_chunks_away")
        client = Celery(broker=stack.redis_url, backend=stack.redis_url)
        result = client.send_task(LOW, kwargs={"trigger": "manual"}, queue="notifications")
        try:
            run_id = wait_until(lambda: next((p["id"] for p in tap.of("task_run", task=LOW)
                                              if p["state"] == "retrying"), None),
                                timeout=30, what="the run to be retrying")
            with stack.session() as s:
                assert "no such table" in s.get(TaskRun, run_id).error
            with sqlite3.connect(path) as conn:
                conn.execute("ALTER TABLE task_run_chunks_away RENAME TO task_run_chunks")
            answer = result.get(timeout=90)
        finally:
            client.close()
        assert answer["state"] == "succeeded", answer
        assert answer["result"] == {"scanned": 300, "notified": 100, "skipped": 0}
        states = [p["state"] for p in tap.of("task_run", id=run_id)]
        order = [st for i, st in enumerate(states) if i == 0 or states[i - 1] != st]
        assert order == ["running", "retrying", "running", "succeeded"], states
        tap.close()
        with stack.session() as s:
            run = s.get(TaskRun, run_id)
            assert (run.chunks_done, run.chunks_published, run.attempts) == (3, 3, 1)
    finally:
        stack.close()
