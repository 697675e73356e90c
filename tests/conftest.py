"""Fixtures: a real Redis per test session, a fresh database per test, the app and clients,
and (for tests marked `stack`) web and worker processes sharing one database.

Set TEST_DATABASE_URL to a PostgreSQL URL to run everything on PostgreSQL instead of SQLite.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import uuid
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

from dashboard.cli import redis_server
from dashboard.db import Base, Session
from tests import factories

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private Redis server for this test session."""
    port = redis_server.free_port()
    proc = redis_server.start(port, str(tmp_path_factory.mktemp("redis")))
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def fresh_database(tmp_path, *, migrate: bool | str = False) -> str:
    """An empty database with the schema: a SQLite file, or a new PostgreSQL schema.

    The schema comes from the models (fast), or from the Alembic migrations with `migrate`
    (True: up to head; a revision id: up to that revision).
    """
    if not PG_URL:
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    if migrate:
        from dashboard.migrate import upgrade

        upgrade(url, "head" if migrate is True else migrate)
        return url
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


_template: dict[str, Path] = {}


def fast_database(tmp_path) -> str:
    """A fresh database for one test. On SQLite a copy of a schema template made once per
    process: create_all costs half a second (every DDL statement syncs), a copy a millisecond."""
    if PG_URL:
        return fresh_database(tmp_path)
    if "path" not in _template:
        folder = Path(tempfile.mkdtemp(prefix="qn-schema-"))
        atexit.register(shutil.rmtree, folder, True)
        fresh_database(folder)
        _template["path"] = folder / "test.db"
    target = tmp_path / "test.db"
    shutil.copyfile(_template["path"], target)
    return f"sqlite:///{target}"


@pytest.fixture
def db_url(tmp_path):
    """A fresh, empty database for one test."""
    return fast_database(tmp_path)


def private_broker_url(redis_url: str) -> str:
    """The same Redis, another database number: tasks queued there are never run, whereas
    the session-wide stack worker consumes db 0 and would run them against its database."""
    return f"{redis_url.rsplit('/', 1)[0]}/9"


def app_config(db_url: str, redis_url: str, **extra) -> dict:
    """Settings for an app under test; the channel keeps parallel servers apart."""
    return {
        "DATABASE_URL": db_url, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url, "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "SOCKETIO_CHANNEL": f"test-{uuid.uuid4().hex[:8]}", "SECRET_KEY": "test-secret",
        **extra,
    }


@pytest.fixture
def app(db_url, redis_url):
    """The Flask app on a fresh database, CSRF enforced as in production."""
    from dashboard import create_app

    app = create_app("testing", **app_config(db_url, redis_url,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    # No app context stays pushed: each request gets its own, as in production.
    yield app
    Session.remove()


@pytest.fixture(autouse=True)
def quick_worker_ping(monkeypatch):
    """No worker answers the in-process app's health checks (the overview, /readyz): wait
    50 ms for a pong instead of the real half second, on every page that shows them."""
    from dashboard.services.ops import health

    monkeypatch.setattr(health, "PING_TIMEOUT", 0.05)


@pytest.fixture
def db(app):
    """The scoped session, bound to the test's database."""
    yield Session
    Session.rollback()


@pytest.fixture
def client(app):
    """A test client (cookies kept between requests)."""
    return app.test_client()


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered page."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Auth:
    """Signs a test client in through the real form, or gets API tokens."""

    def __init__(self, client):
        """Wrap a client."""
        self.client = client
        self.csrf = None

    def login(self, email, password="correct-horse-battery"):
        """Sign in through /login with the page's CSRF token."""
        token = csrf_from(self.client.get("/login").get_data(as_text=True))
        response = self.client.post("/login", data={"email": email, "password": password,
                                                    "csrf_token": token})
        if response.status_code == 302:
            page = self.client.get(response.headers["Location"]).get_data(as_text=True)
            self.csrf = csrf_from(page)
        return response

    def token(self, email, password="correct-horse-battery") -> dict:
        """Bearer headers for an API user."""
        response = self.client.post("/api/v1/auth/token",
                                    json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def auth(client):
    """The sign-in helper."""
    return Auth(client)


@pytest.fixture
def make(db):
    """Factories bound to the test session: make.wallet(...), make.user(...), ..."""

    class Make:
        """Calls tests.factories with the session filled in, committing each thing made
        (requests run in the same thread and end the scoped session when they finish)."""

        def __getattr__(self, name):
            fn = getattr(factories, name)

            def call(*args, **kwargs):
                made = fn(db, *args, **kwargs)
                db.commit()
                return made

            return call

    return Make()


@pytest.fixture(scope="session")
def stack(redis_url, tmp_path_factory):
    """Web and worker processes on one migrated database with the demo logins."""
    from dashboard.db import Session, init_engine
    from dashboard.services.demo.seed import seed
    from tests.stack import Stack

    workdir = tmp_path_factory.mktemp("stack")
    db_url = fresh_database(workdir, migrate=True)  # the children migrate too: a no-op
    init_engine(db_url)
    seed(Session(), wallets=20,
         password_hasher=partial(generate_password_hash, method=factories.FAST_HASH))
    Session.commit()
    Session.remove()
    s = Stack(db_url, redis_url, workdir)
    s.start("web", "worker")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium where it is installed (no browser download on these machines)."""
    args = {**browser_type_launch_args, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]}
    if os.path.exists("/usr/bin/chromium"):
        args["executable_path"] = "/usr/bin/chromium"
    return args


def pytest_collection_modifyitems(config, items):
    """Tests marked `soak` (minutes each) run only when the marker expression asks for them,
    as `make soak` does with `-m soak`; plain `pytest` and `make test` skip them."""
    if "soak" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run with `make soak` (pytest -m soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
