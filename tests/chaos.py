"""Helpers for fault-injection tests: private stacks whose processes can be SIGKILLed, and the
credit-alert rules computed directly in SQL to check a scan's outcome against.

A `KillableStack` has its own migrated database and its own broker (a Redis database number,
or a redis-server of its own), so killing its worker or stopping its Redis never disturbs the
session-wide stack. Every child runs in its own process group, so `kill` takes the Celery
worker's pool processes down with it, as a machine crash or the OOM killer would.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from dashboard.cli import redis_server
from tests.stack import ROOT, Stack


class KillableStack(Stack):
    """Web, workers and beats as separate process groups on a private database and broker."""

    def __init__(self, workdir: Path, redis_url: str | None = None, **env: str):
        """A fresh migrated SQLite database; `redis_url` None starts a redis-server of our own
        (which `stop_redis`/`start_redis` may then take away and give back)."""
        from dashboard.migrate import upgrade

        self.redis_proc = None
        if redis_url is None:
            self.redis_port = redis_server.free_port()
            self.redis_dir = workdir / "redis"
            self.redis_dir.mkdir(exist_ok=True)
            self.redis_proc = redis_server.start(self.redis_port, str(self.redis_dir))
            redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        db_url = f"sqlite:///{workdir / 'chaos.db'}"
        upgrade(db_url)
        super().__init__(db_url, redis_url, workdir)
        self.env.update(env)

    # -- processes ---------------------------------------------------------------------------

    def start_as(self, label: str, command: str, wait: bool = True, **env: str) -> None:
        """`run.py COMMAND` in a new process group, with extra environment variables."""
        log = open(self.workdir / f"{label}.log", "ab")
        self.procs[label] = subprocess.Popen(
            [sys.executable, "run.py", command], cwd=ROOT, env={**self.env, **env},
            stdout=log, stderr=log, start_new_session=True)
        if wait and command == "worker":
            self.wait_worker(label)
        if wait and command == "web":
            self.wait_web()

    def start(self, *names: str) -> None:
        """Start `run.py NAME` for each name (each its own process group) and wait for them."""
        for name in names:
            self.start_as(name, name)

    def wait_worker(self, label: str = "worker", timeout: float = 60) -> None:
        """Until this start of the worker says it is ready (its log is appended to)."""
        deadline = time.monotonic() + timeout
        seen = self._ready_lines.get(label, 0)
        while time.monotonic() < deadline:
            count = self.log(label).count(" ready.")
            if count > seen:
                self._ready_lines[label] = count
                return
            self.check_alive()
            time.sleep(0.05)
        raise RuntimeError(f"{label} did not start: {self.log(label)[-2000:]}")

    @property
    def _ready_lines(self) -> dict:
        """How many "ready." lines each label's log had when we last waited for it."""
        if not hasattr(self, "_ready"):
            self._ready = {}
        return self._ready

    def kill(self, label: str) -> None:
        """SIGKILL a child and every process of its group (no shutdown, no acks, no cleanup)."""
        proc = self.procs.pop(label)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
        # Pool processes die with the group; give the kernel a moment to reap them and free
        # the SQLite locks they held.
        time.sleep(0.2)

    def stop(self, *names: str) -> None:
        """Stop children (all by default): SIGTERM to the group, SIGKILL if it lingers."""
        for name in names or list(self.procs):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass

    # -- its own Redis -------------------------------------------------------------------------

    def stop_redis(self) -> None:
        """Kill redis-server as a crash would (clients get no goodbye)."""
        assert self.redis_proc is not None, "this stack uses a shared Redis"
        if self.redis_proc.poll() is None:
            self.redis_proc.kill()
            self.redis_proc.wait(10)

    def start_redis(self) -> None:
        """Start redis-server again on the same port (empty: it never persisted anything)."""
        if self.redis_proc is None or self.redis_proc.poll() is not None:
            self.redis_proc = redis_server.start(self.redis_port, str(self.redis_dir))

    def close(self) -> None:
        """Stop every process this stack started, Redis last."""
        self.stop()
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            self.redis_proc.wait(10)


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; return its value, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- the rules in plain SQL, independent of the services ---------------------------------------

#: Wallets that are `low` / `critical` by the state rule (mode `amount`, threshold > 0), computed from
#: balance and threshold alone: not from the stored state column the services maintain.
RULE_SQL = {
    "critical_credit": "low_balance_threshold > 0 AND balance < low_balance_threshold * 0.2",
    "low_credit": "low_balance_threshold > 0 AND balance < low_balance_threshold "
                  "AND balance >= low_balance_threshold * 0.2",
}


def expected_vs_stored(session, kind: str) -> dict:
    """For alert `kind`: the wallets the rule selects, the wallets that got a notification,
    and how many notifications there are in all (more than wallets means a duplicate)."""
    expected = set(session.execute(text(
        f"SELECT id FROM wallets WHERE alert_mode = 'amount' AND {RULE_SQL[kind]}")).scalars())
    notified = list(session.execute(text(
        "SELECT wallet_id FROM notifications WHERE type = :kind"), {"kind": kind}).scalars())
    return {"expected": expected, "notified": set(notified), "rows": len(notified)}
