"""A live system for the end-to-end benchmarks: a private Redis, web and worker processes.

Uses tests/stack.py's Stack (run.py web and run.py worker on one database) and adds the
production server (gunicorn -k gevent) as an alternative web process.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from itsdangerous import URLSafeTimedSerializer

from .common import OUT, ROOT, analyze, db_url, log

SECRET = "stack-test-secret"  # tests/stack.py's SECRET_KEY


def mint_token(user_id: int) -> str:
    """A bearer token as dashboard.auth.issue_token makes it (token_version 0), minted here so
    5,000 clients need not each sign in."""
    return URLSafeTimedSerializer(SECRET, salt="api-token").dumps({"uid": user_id, "v": 0})


def bench_residents(path: Path, limit: int) -> list[tuple[int, int, str]]:
    """(user_id, wallet_id, email) of the first `limit` bench residents, one per wallet."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT u.id, w.id, u.email FROM users u JOIN occupancies o ON o.person_id = "
            "u.person_id AND o.is_primary = 1 JOIN wallets w ON w.unit_id = o.unit_id "
            "WHERE u.email LIKE '%@bench.test' ORDER BY w.id LIMIT ?", (limit,)).fetchall()


def operator_id(path: Path) -> int:
    """The demo operator's user id."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id FROM users WHERE email = 'operator@example.com'"
                            ).fetchone()[0]


def unanalysed_indexes(path: Path) -> list[str]:
    """Indexes of the big tables that the planner has no statistics for, while it has some for
    their siblings: the planner then misjudges them (see RESULTS.md, pages)."""
    with sqlite3.connect(path) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return []
        return [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('wallets', "
            "'units', 'people', 'users', 'occupancies') AND name NOT IN "
            "(SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL)")]


@contextmanager
def running(path: Path, *, server: str = "werkzeug", chunk_size: int = 20_000,
            concurrency: int = 2, connections: int = 10_000):
    """Redis, web (werkzeug threading or, as deployed, gunicorn -k gevent with
    deploy/gunicorn.conf.py and up to `connections` at once) and worker on database `path`."""
    from dashboard.cli import redis_server
    from dashboard.migrate import upgrade
    from tests.stack import Stack

    # Migrate here, once: `run.py web` and `run.py worker` both migrate as they start, and on
    # a big database they race (one fails with "index ... already exists"; see RESULTS.md).
    upgrade(db_url(path))
    if unanalysed_indexes(path):
        analyze(path)  # a migration added indexes the planner has no statistics for
    work = OUT / "stack"
    work.mkdir(parents=True, exist_ok=True)
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, str(work))
    url = f"redis://127.0.0.1:{port}/0"
    stack = Stack(db_url(path), url, work)
    stack.env.update(SCAN_CHUNK_SIZE=str(chunk_size), WORKER_CONCURRENCY=str(concurrency))
    for name in ("web", "worker"):
        (work / f"{name}.log").unlink(missing_ok=True)
    try:
        if server == "gevent":
            stack.env.update(SOCKETIO_ASYNC_MODE="gevent", BIND=f"127.0.0.1:{stack.port}",
                             WEB_WORKERS="1", WORKER_CONNECTIONS=str(connections))
            with open(work / "web.log", "ab") as log_file:  # the child keeps its own copy
                # The deployed settings, but the test environment (not production's checks)
                # and a longer timeout for a loaded machine.
                stack.procs["web"] = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                     "-e", "APP_ENV=testing", "--timeout", "120", "dashboard.wsgi:app"],
                    cwd=ROOT, env=stack.env, stdout=log_file, stderr=log_file)
            stack.start("worker")
            stack.wait_web(60)
        else:
            stack.start("web", "worker")
        log(f"stack up ({server}) at {stack.url}")
        yield stack
    finally:
        stack.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
