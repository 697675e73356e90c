"""The live stack for cross-process tests: web and worker in subprocesses, real Redis.

Started once per test session (see the `stack` fixture in conftest). Tests create their own
users and wallets in the shared database through `stack.session()`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from dashboard.cli import redis_server

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll until predicate() is truthy; return its value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting")


class Stack:
    """Web and worker processes on one database and one Redis."""

    def __init__(self, db_url: str, redis_url: str, workdir: Path):
        """Prepare the environment the children share."""
        self.db_url, self.redis_url, self.workdir = db_url, redis_url, workdir
        self.port = redis_server.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.channel = f"stack-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ, "APP_ENV": "testing", "DATABASE_URL": db_url, "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url,
            "SOCKETIO_MESSAGE_QUEUE": redis_url, "SOCKETIO_CHANNEL": self.channel,
            "SECRET_KEY": "stack-test-secret", "PORT": str(self.port), "HOST": "127.0.0.1",
            "SCAN_CHUNK_SIZE": "500", "WORKER_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, *names: str) -> None:
        """Start `run.py NAME` for each name and wait until the web answers."""
        for name in names:
            log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child writes it
            self.procs[name] = subprocess.Popen([sys.executable, "run.py", name], cwd=ROOT,
                                                env=self.env, stdout=log, stderr=log)
        if "web" in names:
            self.wait_web()
        if "worker" in names:
            self.wait_worker()

    def start_as(self, label: str, command: str) -> None:
        """Start `run.py COMMAND` under another name (a second worker, say) and wait for it."""
        log = open(self.workdir / f"{label}.log", "ab")  # noqa: SIM115 - the child writes it
        self.procs[label] = subprocess.Popen([sys.executable, "run.py", command], cwd=ROOT,
                                             env=self.env, stdout=log, stderr=log)
        if command == "worker":
            self.wait_worker(label)

    def wait_web(self, timeout: float = 30) -> None:
        """Until /login answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/login", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            self.check_alive()
            time.sleep(0.1)
        raise RuntimeError(f"web did not start: {self.log('web')[-2000:]}")

    def wait_worker(self, label: str = "worker", timeout: float = 60) -> None:
        """Until the worker's log says it is ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log(label):
                return
            self.check_alive()
            time.sleep(0.1)
        raise RuntimeError(f"{label} did not start: {self.log(label)[-2000:]}")

    def check_alive(self) -> None:
        """Fail loudly when a child died."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}: {self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        """A child's output so far."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, *names: str) -> None:
        """Stop children (all by default)."""
        for name in names or list(self.procs):
            proc = self.procs.pop(name, None)
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    @contextmanager
    def session(self):
        """A database session of the test process on the stack's database."""
        from dashboard.db import Session, init_engine

        init_engine(self.db_url)
        session = Session()
        try:
            yield session
            session.commit()
        finally:
            Session.remove()

    def token(self, email: str, password: str = "correct-horse-battery") -> str:
        """A bearer token through the API."""
        r = requests.post(self.url + "/api/v1/auth/token",
                          json={"email": email, "password": password}, timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        """An API call with a bearer token."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + "/api/v1" + path, headers=headers,
                                timeout=kwargs.pop("timeout", 15), **kwargs)
