"""Scans split into chunk subtasks: several worker processes share one scan, exactly once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dashboard.models import Notification, TaskRun, TaskRunChunk, Wallet
from tests import factories
from tests.stack import Stack, wait_for
from tests.test_worker import EventTap

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def two_workers(redis_url, tmp_path_factory):
    """A private stack: one web and two worker processes (one slot each), small chunks."""
    from dashboard.db import Session, init_engine
    from tests.conftest import fresh_database

    workdir = tmp_path_factory.mktemp("chunks")
    db_url = fresh_database(workdir, migrate=True)
    init_engine(db_url)
    factories.bulk_wallets(Session, 3000, balances=(2000, 800, 9000))  # a third each low/critical/ok
    factories.user(Session, "operator", email="chunks-op@example.test")
    Session.commit()
    Session.remove()
    # Its own broker database: the shared stack's worker must not take these chunks.
    stack = Stack(db_url, redis_url.rsplit("/", 1)[0] + "/5", workdir)
    stack.env.update(SCAN_CHUNK_SIZE="100", WORKER_CONCURRENCY="1")
    stack.start("web")
    for name in ("worker-a", "worker-b"):
        stack.start_as(name, "worker")
    yield stack
    stack.stop()



def test_two_workers_share_a_scan_without_duplicates(two_workers):
    """30 chunks on two workers: every low wallet alerted once, and the run is published as
    succeeded only after every one of its notifications was published (each worker counts
    its chunk as published after publishing; the last count succeeds the run). Nobody is
    connected, so what a chunk publishes is its `notifications_batch` to operators."""
    token = two_workers.token("chunks-op@example.test")
    tap = EventTap(two_workers)
    r = two_workers.api("POST", "/scans/check_low_credit_wallets/run", token)
    assert r.status_code == 202, r.text
    run_id = r.json()["task_run"]["id"]

    def done():
        body = two_workers.api("GET", f"/task-runs/{run_id}", token).json()
        return body if body["state"] in ("succeeded", "failed") else None

    body = wait_for(done, timeout=120)
    assert body["state"] == "succeeded", body
    wait_for(lambda: tap.of("task_run", id=run_id, state="succeeded"), timeout=10)
    tap.close()
    published = list(tap.events)
    succeeded_at = next(i for i, (event, p) in enumerate(published)
                        if event == "task_run" and p["id"] == run_id and p["state"] == "succeeded")
    batches = [(i, p) for i, (event, p) in enumerate(published)
               if event == "notifications_batch" and p["task_run_id"] == run_id]
    assert sum(p["count"] for _, p in batches) == 1000
    assert len(batches) == 30 and max(i for i, _ in batches) < succeeded_at
    with two_workers.session() as s:
        low = s.scalar(select(func.count()).select_from(Wallet).where(Wallet.state == "low"))
        made = s.scalar(select(func.count()).select_from(Notification)
                        .where(Notification.task_run_id == run_id))
        keys = s.scalar(select(func.count(func.distinct(Notification.wallet_id)))
                        .where(Notification.task_run_id == run_id))
        chunks = s.scalar(select(func.count()).select_from(TaskRunChunk)
                          .where(TaskRunChunk.task_run_id == run_id))
        run = s.get(TaskRun, run_id)
        assert (run.chunks_total, run.chunks_done, run.chunks_published, chunks) == \
            (30, 30, 30, 30)
    assert low == 1000 and made == keys == 1000
    assert body["result"] == {"scanned": 3000, "notified": 1000, "skipped": 0}
    # Both workers took chunks: the scan really was shared.
    for name in ("worker-a", "worker-b"):
        assert "scan_chunk" in two_workers.log(name), name


def test_a_chunk_delivered_twice_counts_once(two_workers):
    """Redelivery (a retry, a lost ack) of a chunk already done changes nothing."""
    from celery import Celery

    from dashboard.models import utcnow

    with two_workers.session() as s:
        run = TaskRun(task="check_critical_credit_wallets", trigger="manual", state="running",
                      started_at=utcnow(), heartbeat_at=utcnow(), scan_now=utcnow(),
                      chunks_total=2, progress_total=200)
        s.add(run)
        s.flush()
        run_id = run.id
        first = s.scalar(select(func.min(Wallet.id)))
    client = Celery(broker=two_workers.env["CELERY_BROKER_URL"],
                    backend=two_workers.env["CELERY_RESULT_BACKEND"])
    kwargs = {"task_run_id": run_id, "name": "check_critical_credit_wallets",
              "first": first, "last": first + 99}
    once = client.send_task("scan_chunk", kwargs=kwargs, queue="notifications").get(timeout=30)
    twice = client.send_task("scan_chunk", kwargs=kwargs, queue="notifications").get(timeout=30)
    assert once["scanned"] == 100 and twice == {"duplicate": True}
    with two_workers.session() as s:
        run = s.get(TaskRun, run_id)
        made = s.scalar(select(func.count()).select_from(Notification)
                        .where(Notification.task_run_id == run_id))
        assert (run.chunks_done, run.scanned, run.notified, run.state) == \
            (1, 100, once["notified"], "running")
        assert made == once["notified"]
        run.state = "failed"  # leave no active run behind
