"""Command-line start-up: `python run.py scan NAME` on a migrated database, run many times.

Start-up is separated from scanning by the run's own record: the command creates its task
run (`queued_at`, stamped in the child) as the first thing it does once it has imported what
it needs, checked the schema and opened the database; so start-up is from the moment the
bench starts the process to `queued_at`, and the scan is `queued_at` to `finished_at`. Both
clocks are this machine's wall clock (UTC). The rest of the wall time is the scan's own
output and the interpreter's exit. The child's CPU time (user + system) is reported too: on
a machine shared with other work it moves less than the wall time.

Hyperfine-like: a few untimed warm-up runs (page cache, .pyc files), then `repeats` timed
ones, reported as min / median / p90. One run with `-X importtime` lists the costliest
imports of the command.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from .common import OUT, ROOT, emit, load, log, median, percentile, prepare_db

WALLETS = 200


def _env(path: Path, redis_url: str) -> dict:
    """The child's environment: the bench database and a private Redis. Python may write
    its bytecode cache, as it does for an operator (PYTHONDONTWRITEBYTECODE, set in some
    shells, would compile every module of the project at every start): the warm-up runs
    write it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "APP_ENV": "development", "DATABASE_URL": f"sqlite:///{path}",
            "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url, "SOCKETIO_MESSAGE_QUEUE": redis_url,
            "SOCKETIO_CHANNEL": "bench-cli"}


def one_run(scan: str, env: dict, *extra: str) -> dict:
    """Run the command once: seconds of start-up, of scanning and in all, and CPU seconds."""
    launched = datetime.now(UTC)
    proc = subprocess.Popen([sys.executable, *extra, "run.py", "scan", scan], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    ended = datetime.now(UTC)
    usage = _child_usage()
    if proc.returncode != 0:
        raise RuntimeError(f"run.py scan failed: {err.decode()[-2000:]}")
    run = json.loads(out.decode().strip().splitlines()[-1])
    queued = datetime.fromisoformat(run["queued_at"])
    finished = datetime.fromisoformat(run["finished_at"])
    return {"startup": (queued - launched).total_seconds(),
            "scan": (finished - queued).total_seconds(),
            "total": (ended - launched).total_seconds(), "cpu": usage, "stderr": err.decode()}


_last_usage = [0.0]


def _child_usage() -> float:
    """CPU seconds (user + system) the last finished child used."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    spent, _last_usage[0] = total - _last_usage[0], total
    return spent


def costliest_imports(stderr: str, top: int = 12) -> list[tuple[str, float]]:
    """The top-level imports of an `-X importtime` run with their cumulative milliseconds."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # only modules the command itself imported
            found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


def run(*, repeats: int = 20, warmups: int = 3, scan: str = "check_low_credit_wallets",
        wallets: int = WALLETS) -> dict:
    """Time `run.py scan` start-up on a migrated database of `wallets` wallets."""
    from dashboard.cli import redis_server
    from dashboard.migrate import upgrade

    path = prepare_db(wallets, path=OUT / f"cli-{wallets}.db")
    upgrade(f"sqlite:///{path}")  # migrated: the command finds it at the head
    work = OUT / "cli-redis"
    work.mkdir(parents=True, exist_ok=True)
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, str(work))
    env = _env(path, f"redis://127.0.0.1:{port}/0")
    try:
        _child_usage()
        for _ in range(warmups):
            one_run(scan, env)
        load_before = load()
        runs = [one_run(scan, env) for _ in range(repeats)]
        imports = costliest_imports(one_run(scan, env, "-X", "importtime")["stderr"])
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    record = {"bench": "cli", "command": f"run.py scan {scan}", "wallets": wallets,
              "repeats": repeats, "load_before": load_before, "load_after": load(),
              "imports_ms": imports}
    for what in ("startup", "scan", "total", "cpu"):
        values = [r[what] for r in runs]
        record[f"{what}_s"] = {"min": round(min(values), 3),
                               "median": round(median(values), 3),
                               "p90": round(percentile(values, 90), 3)}
    log(f"start-up median {record['startup_s']['median']} s, scan median "
        f"{record['scan_s']['median']} s, CPU median {record['cpu_s']['median']} s")
    return emit(record)
