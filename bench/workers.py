"""Workers: one low-credit scan shared by 1, 2, ... worker processes standing in for hosts.

For each worker count, that many `python run.py worker` processes (WORKER_CONCURRENCY=1, as
scripts/run_celery_worker.sh starts one per host) on a private Redis; the scan is triggered
as "Run now" does (scan_control.request_run: a queued task run, then the low-credit scan's
coordinator task, which queues one `scan_chunk` per id range); the clock runs from
the trigger until the task run is seen finished. After each run: the notifications made,
duplicates (count against distinct dedup keys and distinct wallets) and the wallets that
should have been alerted (the state rule evaluated at the run's `scan_now`) against those
that were. Alerts are reset before every run so every run notifies the same wallets.

Worker counts alternate within a repeat (1, 2, 1, 2, ...), each run on freshly started
workers, so every count sees the same machine load and the same start-up cost.

SQLite uses the shared bench/out/wallets-N.db (reset between runs as every bench does);
PostgreSQL a private cluster under bench/out/pg (port BENCH_PG_PORT, default 54341) with one
database per size (`bench_1m`, ...), seeded once and kept for re-runs.
"""
from __future__ import annotations

import re
import subprocess
import time
from contextlib import contextmanager
from datetime import timedelta

from dashboard.services.scans.catalogue import for_kind

from .common import (
    OUT,
    ROOT,
    add_residents,
    analyze,
    db_path,
    db_url,
    emit,
    load,
    log,
    median,
    others_using,
    prepare_db,
    reset_alerts,
    wait_until_free,
)
from .pg import PG_SETTINGS, pg_cluster, prepare_pg, reset_alerts_pg

KIND = "low_credit"
SCAN = for_kind(KIND).name
STATE = "low"
WORKDIR = OUT / "workers"


# --- PostgreSQL: a private cluster kept under bench/out/pg ---------------------------------
class Target:
    """The database under test: its URL, how to reset it, how to check it is ours."""

    def __init__(self, db: str, wallets: int, *, patience: float = 1800):
        """Prepare (or reuse) the seeded database of `wallets` wallets (PostgreSQL: a copy of
        the SQLite one, see bench/pg.py)."""
        self.db, self.wallets, self.patience = db, wallets, patience
        self.meta: dict = {}
        if db == "sqlite":
            if db_path(wallets).exists():
                wait_until_free(db_path(wallets), patience)
            self.path = prepare_db(wallets)
            self.url = db_url(self.path)
        else:
            self.path = None
            self.url, self.meta = prepare_pg(wallets)
            self.wallets = self.meta["wallets"]

    def ready(self) -> None:
        """Schema up to date and planner statistics complete, once, before any worker starts:
        every `run.py worker` migrates as it starts, and on a big SQLite file two starting
        together used to race (see bench/live.py)."""
        from dashboard.migrate import upgrade

        upgrade(self.url)
        if self.path is not None:
            from .live import unanalysed_indexes

            if unanalysed_indexes(self.path):
                analyze(self.path)
            add_residents(self.path)

    def reset(self) -> None:
        """Every alert undone (see reset_alerts / reset_alerts_pg)."""
        if self.path is not None:
            wait_until_free(self.path, self.patience)
            reset_alerts(self.path)
        else:
            reset_alerts_pg(self.url)


# --- a run ------------------------------------------------------------------------------------

def sender(broker: str):
    """send(task, **kwargs) → task id, as dashboard.dispatch.send queues Run now's task
    (a send-only Celery app, no result backend)."""
    from celery import Celery

    from worker.celery_app import QUEUE

    app = Celery("bench-workers", broker=broker)
    app.backend_cls = "disabled"

    def send(name: str, **kwargs) -> str:
        """Queue task `name` on the workers' queue."""
        return app.send_task(name, kwargs=kwargs, queue=QUEUE).id

    return send


def trigger(send) -> int:
    """Run now: a queued task run and its coordinator task; the run's id."""
    from config import get_config
    from dashboard.db import Session
    from dashboard.services.scans import control as scan_control

    try:
        stale = timedelta(seconds=get_config().TASK_RUN_STALE_SECONDS)
        return scan_control.request_run(Session(), SCAN, "manual", None, send,
                                        stale_after=stale).id
    finally:
        Session.remove()


def wait_finished(run_id: int, stack, timeout: float, every_5s=None) -> dict:
    """Poll the run (every 50 ms, a new read each time) until it succeeded or failed; call
    `every_5s()` meanwhile, if given."""
    from sqlalchemy import text

    from dashboard.db import get_engine

    engine = get_engine()
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT state, chunks_done, chunks_total, error FROM task_runs "
                                    "WHERE id = :id"), {"id": run_id}).one()
        if row.state in ("succeeded", "failed"):
            return row._asdict()
        if time.monotonic() - checked > 5:
            stack.check_alive()  # a dead worker: fail now, not at the timeout
            if every_5s:
                every_5s()
            checked = time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"run {run_id} not finished after {timeout} s")


def check(run_id: int) -> dict:
    """What the run made against what it should have: counts, duplicates, missing, extra."""
    from sqlalchemy import func, select

    from dashboard.db import Session
    from dashboard.models import Notification, NotificationDelivery, TaskRun, Wallet
    from dashboard.services.wallets.state import state_sql

    session = Session()
    try:
        run = session.get(TaskRun, run_id)
        n = Notification
        made, keys, wallets = session.execute(
            select(func.count(), func.count(func.distinct(n.dedup_key)),
                   func.count(func.distinct(n.wallet_id))).where(n.task_run_id == run_id)).one()
        got = set(session.scalars(select(n.wallet_id).where(n.task_run_id == run_id)))
        # The state rule evaluated afresh at the run's clock, not the states the scan stored:
        # after a reset every wallet in the state is due, so this is exactly who to alert.
        expected = set(session.scalars(select(Wallet.id).where(state_sql(run.scan_now) == STATE)))
        deliveries = session.scalar(
            select(func.count()).select_from(NotificationDelivery).join(Notification)
            .where(n.task_run_id == run_id))
        return {"state": run.state, "scanned": run.scanned, "notified": run.notified,
                "chunks": run.chunks_total, "chunks_done": run.chunks_done,
                "notifications": made, "deliveries": deliveries, "expected": len(expected),
                "duplicate_keys": made - keys, "duplicate_wallets": made - wallets,
                "missing": len(expected - got), "unexpected": len(got - expected),
                "db_seconds": round((run.finished_at - run.queued_at).total_seconds(), 3)}
    finally:
        Session.remove()


CHUNK_DONE = re.compile(r"Task scan_chunk\[[^\]]+\] succeeded")


def chunks_by_worker(stack, names: list[str]) -> list[int]:
    """How many chunks each worker finished, from its log (the workers are fresh per run)."""
    return [len(CHUNK_DONE.findall(stack.log(name))) for name in names]


@contextmanager
def workers(target: Target, redis_url: str, count: int, chunk_size: int):
    """`count` fresh `run.py worker` processes, one slot each, on the target and Redis."""
    from tests.stack import Stack

    WORKDIR.mkdir(parents=True, exist_ok=True)
    stack = Stack(target.url, redis_url, WORKDIR)
    # LOG_LEVEL INFO: the worker logs each finished chunk, which is how chunks_by_worker counts.
    stack.env.update(SCAN_CHUNK_SIZE=str(chunk_size), WORKER_CONCURRENCY="1", LOG_LEVEL="INFO")
    names = [f"worker-{i + 1}" for i in range(count)]
    try:
        for name in names:
            (WORKDIR / f"{name}.log").unlink(missing_ok=True)
            stack.start_as(name, "worker")
        yield stack, names
    finally:
        stack.stop()


def one_run(target: Target, redis_url: str, count: int, chunk_size: int, timeout: float) -> dict:
    """Reset, start `count` workers, Run now, wait for the run to finish, check it."""
    from dashboard.db import get_engine, init_engine

    target.reset()
    tree = tree_state()["tree"]  # the code these fresh workers load
    with workers(target, redis_url, count, chunk_size) as (stack, names):
        init_engine(target.url)
        send = sender(redis_url)
        before = load()
        started = time.perf_counter()
        run_id = trigger(send)
        # Another benchmark that opens the shared file meanwhile competes with this run: noted.
        shared: set[str] = set()
        watch = (lambda: shared.update(others_using(target.path))) if target.path else None
        finished = wait_finished(run_id, stack, timeout, watch)
        seconds = time.perf_counter() - started
        after = load()
        if watch:
            watch()
        # The run is marked succeeded by the chunk that commits last, but with several workers
        # another chunk may still be publishing its notifications then: `settled` is when every
        # chunk task has returned (its log line), so everything was published.
        per_worker = chunks_by_worker(stack, names)
        deadline = time.monotonic() + 60
        while sum(per_worker) < finished["chunks_total"] and time.monotonic() < deadline:
            time.sleep(0.05)
            per_worker = chunks_by_worker(stack, names)
        settled = time.perf_counter() - started if sum(per_worker) >= finished["chunks_total"] else None
    try:
        if finished["state"] != "succeeded":
            raise RuntimeError(f"run {run_id} failed: {finished['error']}")
        return {"seconds": round(seconds, 3), "settled_seconds": settled and round(settled, 3),
                **check(run_id), "chunks_by_worker": per_worker,
                "load_before": before, "load_after": after, "tree": tree,
                "shared_with": sorted(shared)}
    finally:
        get_engine().dispose()  # no connection of ours stays open across the next reset


def run(db: str, sizes, counts, *, repeats: int = 3, chunk_size: int | None = None,
        timeout: float = 3600, warmup: bool = True, patience: float = 1800) -> list[dict]:
    """For each size: an untimed warm-up run (page cache), then `repeats` rounds of one run per
    worker count; one JSON line per (size, count) with the median seconds."""
    from dashboard.cli import redis_server
    from dashboard.services.scans import DEFAULT_CHUNK

    chunk_size = chunk_size or DEFAULT_CHUNK
    results = []
    cluster = pg_cluster() if db == "postgresql" else _nothing()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, str(WORKDIR))
    redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        with cluster:
            for wallets in sizes:
                target = Target(db, wallets, patience=patience)
                target.ready()
                if warmup:
                    got = one_run(target, redis_url, max(counts), chunk_size, timeout)
                    log(f"{db} {wallets:,} warm-up ({max(counts)} workers): {got['seconds']} s")
                runs: dict[int, list[dict]] = {n: [] for n in counts}
                for i in range(repeats):
                    for n in counts:
                        got = one_run(target, redis_url, n, chunk_size, timeout)
                        runs[n].append(got)
                        log(f"{db} {wallets:,} {n} worker(s) #{i + 1}: {got['seconds']} s, "
                            f"{got['notifications']:,} notifications, chunks {got['chunks_by_worker']}, "
                            f"dup {got['duplicate_wallets']}, missing {got['missing']}, "
                            f"load1 {got['load_before']['load1']}")
                target.reset()  # leave the shared file as the other benchmarks expect it
                results.extend(_records(target, chunk_size, runs))
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    return results


def tree_state() -> dict:
    """Uncommitted edits anywhere in the code the workers run (common.code_state digests only the
    scan files; other engineers edit dashboard/db.py, events.py, ... in this work tree too)."""
    import hashlib

    paths = ["dashboard", "worker", "config.py", "run.py"]
    status = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.splitlines()
    # The committed code by content (git's object ids of these paths at HEAD, unchanged by commits
    # elsewhere), plus the uncommitted edits.
    committed = subprocess.run(["git", "rev-parse", *(f"HEAD:{p}" for p in paths)], cwd=ROOT,
                               capture_output=True, check=False).stdout
    diff = committed + subprocess.run(["git", "diff", "HEAD", "--", *paths], cwd=ROOT,
                                      capture_output=True, check=False).stdout
    untracked = b"".join((ROOT / line[3:]).read_bytes() for line in status
                         if line.startswith("??") and (ROOT / line[3:]).is_file())
    return {"edited": sorted(line[3:] for line in status),
            "tree": hashlib.sha1(diff + untracked).hexdigest()[:10]}


@contextmanager
def _nothing():
    """No cluster to manage (SQLite)."""
    yield


def _records(target: Target, chunk_size: int, runs: dict[int, list[dict]]) -> list[dict]:
    """One JSON line per worker count; the speed-up against the first count's median."""
    db, wallets = target.db, target.wallets
    out, base = [], None
    for n, got in runs.items():
        seconds = median(r["seconds"] for r in got)
        base = base or seconds
        first = got[0]
        record = {
            "bench": "workers", "db": db, "wallets": wallets, "workers": n, "concurrency": 1,
            "chunk_size": chunk_size, "chunks": first["chunks"], "seconds": round(seconds, 3),
            "runs": [r["seconds"] for r in got],
            "db_seconds": median(r["db_seconds"] for r in got),
            "settled_seconds": median(r["settled_seconds"] for r in got),
            "settled_runs": [r["settled_seconds"] for r in got],
            "speedup": round(base / seconds, 2),
            "notifications": first["notifications"], "expected": first["expected"],
            "deliveries": first["deliveries"],
            # The worst of all runs: any duplicate or miss in any run shows.
            "duplicates": max(max(r["duplicate_keys"], r["duplicate_wallets"]) for r in got),
            "missing": max(r["missing"] for r in got),
            "unexpected": max(r["unexpected"] for r in got),
            "notifications_per_run": [r["notifications"] for r in got],
            "chunks_by_worker": [r["chunks_by_worker"] for r in got],
            # SQLite: other processes seen with the file open during each run.
            "shared_with": [r["shared_with"] for r in got],
            # 1-minute load before each run and after the last (2.0 = both cores busy).
            "load1": [r["load_before"]["load1"] for r in got] + [got[-1]["load_after"]["load1"]],
            "load_end": load(),
            **tree_state(),
            # The code measured, run by run: other engineers edit it while the bench runs.
            "trees": [r["tree"] for r in got],
        }
        if db == "postgresql":
            record.update(database=target.meta["database"], wallets_asked=target.meta["asked"],
                          pg_settings=PG_SETTINGS)
        out.append(emit(record))
    return out
