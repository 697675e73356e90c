"""The slow versions of the fault, scheduling and concurrency tests (`make soak`, marker
`soak`; not part of `make test`): a 100,000-wallet scan whose worker is SIGKILLed, a Redis
outage during top-ups recovered by the beat's own minute sweep, a beat killed while another
waits, and 1,000 parallel payments. The scenarios are the ones in tests/test_faults.py,
tests/test_scheduling.py and tests/test_concurrency.py, at full size.
"""
from __future__ import annotations

import time

import pytest
import redis

from tests.chaos import KillableStack, wait_until
from tests.test_concurrency import parallel_payments
from tests.test_faults import killed_worker_scenario, redis_outage_scenario
from tests.test_scheduling import queued_tasks, sends_in

pytestmark = [pytest.mark.soak, pytest.mark.stack]


def test_worker_sigkilled_mid_scan_of_100k_wallets(redis_url, tmp_path):
    """100,000 wallets in 50 chunks, two worker processes: killed mid-scan twice (retried,
    then reaped and rerun); every low and critical wallet alerted exactly once."""
    stack = KillableStack(tmp_path, redis_url.rsplit("/", 1)[0] + "/8",
                          SCAN_CHUNK_SIZE="2000", WORKER_CONCURRENCY="2",
                          CELERY_VISIBILITY_TIMEOUT="5", TASK_RUN_STALE_SECONDS="8")
    try:
        timings = killed_worker_scenario(stack, 100_000, timeout=600)
        print("soak kill -9 timings (s):", timings)
        # The scenario asserts each step; here: both kills happened and were recovered from.
        assert timings["retried"] > 0 and timings["marked_failed"] > 0
    finally:
        stack.close()


def test_redis_down_10s_during_top_ups_with_the_beat_sweeping(tmp_path):
    """Redis killed for 10 s under top-up traffic with web, worker and beat running: the
    top-ups of the outage are notified by the beat's own minute sweep, once each."""
    stack = KillableStack(tmp_path)
    try:
        stack.start("web", "worker")
        stack.start_as("beat", "beat", wait=False)
        wait_until(lambda: "beat: Acquired lock" in stack.log("beat"), timeout=30,
                   what="the beat to start")
        result = redis_outage_scenario(stack, 10.0, wait_for_beat=True)
        print("soak redis outage:", result)
        stack.check_alive()  # the beat survived the outage too
    finally:
        stack.close()


def test_the_standby_beat_takes_over_when_the_active_one_is_killed(redis_url, tmp_path):
    """Two beats; the one firing is SIGKILLed; once its RedBeat lock expires (60 s) the
    standby fires the schedule, and at no moment do both fire."""
    interval = 1.0
    broker_url = redis_url.rsplit("/", 1)[0] + "/10"
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    stack = KillableStack(tmp_path, broker_url, BEAT_PROBE_SECONDS=str(interval))
    try:
        stack.start_as("beat-a", "beat", wait=False)
        stack.start_as("beat-b", "beat", wait=False)
        wait_until(lambda: queued_tasks(broker, "beat_probe"), timeout=30, what="first probe")
        time.sleep(5)
        active = next(n for n in ("beat-a", "beat-b") if sends_in(stack.log(n), "beat_probe"))
        standby = "beat-b" if active == "beat-a" else "beat-a"
        stack.kill(active)
        killed_at = time.monotonic()
        sent_before = len(queued_tasks(broker, "beat_probe"))
        wait_until(lambda: sends_in(stack.log(standby), "beat_probe") >= 5, timeout=120,
                   interval=0.5, what="the standby beat to fire")
        took_over = time.monotonic() - killed_at
        assert took_over < 90, took_over
        total = len(queued_tasks(broker, "beat_probe"))
        assert total - sent_before == sends_in(stack.log(standby), "beat_probe")
        print(f"soak beat takeover after {took_over:.0f} s")
    finally:
        stack.close()
        broker.flushdb()


def test_1000_parallel_payments_keep_every_ledger_exact(stack):
    """1,000 top-ups and purchases over 10 wallets from 50 threads: see parallel_payments."""
    counts = parallel_payments(stack, requests_count=1000, wallets=10, threads=50)
    # parallel_payments checks every ledger; here: each made transaction has one notification.
    assert counts and set(counts.values()) == {1}
