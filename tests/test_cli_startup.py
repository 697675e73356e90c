"""`python run.py scan NAME` starts with only what a scan needs: no web app, no Celery, no
gevent, no Apprise, and no Alembic when the database is at its head already (it checks the
schema version instead). Every command still migrates a database that is behind.

What is asserted is the modules the command loads (`python -X importtime` lists each one),
never a time: the time is measured by `python -m bench cli` (bench/RESULTS.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text

from dashboard import migrate
from dashboard.db import Session, init_engine
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
#: Packages a scan run from the command line has no use for (the web app and its plumbing,
#: the worker and Celery, gevent, the email/SMS and webhook senders, Alembic at the head).
#: (python-socketio, which publishes the run's events, imports kombu's package itself, a
#: shell of lazy names: Celery's messaging lives in kombu's submodules, not listed here.)
NOT_NEEDED = ("flask", "flask_login", "flask_socketio", "flask_wtf", "flask_htmx", "werkzeug",
              "jinja2", "celery", "kombu.messaging", "kombu.connection", "billiard", "redbeat",
              "gevent", "apprise",
              "standardwebhooks", "alembic", "worker", "dashboard.views", "dashboard.api",
              "dashboard.sockets", "dashboard.auth", "dashboard.dispatch", "dashboard.ops",
              "dashboard.extensions", "dashboard.cli.supervisor")


def run_scan(url: str, redis_url: str) -> tuple[dict, set[str]]:
    """`python -X importtime run.py scan check_low_credit_wallets` on `url`: the run it
    printed and every module it imported."""
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": redis_url,
           "SOCKETIO_MESSAGE_QUEUE": redis_url, "SOCKETIO_CHANNEL": f"cli-{uuid.uuid4().hex[:8]}",
           "SECRET_KEY": "cli-test-secret"}
    done = subprocess.run([sys.executable, "-X", "importtime", "run.py", "scan",
                           "check_low_credit_wallets"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = {line.split("|")[2].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "self [us]" not in line}
    return json.loads(done.stdout.strip().splitlines()[-1]), modules


def unneeded(modules: set[str]) -> list[str]:
    """The modules of NOT_NEEDED (or inside one of them) among `modules`."""
    return sorted(m for m in modules
                  if any(m == name or m.startswith(name + ".") for name in NOT_NEEDED))


def wallets_in(url: str, count: int) -> None:
    """`count` wallets in the database at `url` (a third of them low)."""
    init_engine(url)
    factories.bulk_wallets(Session, count)
    Session.commit()
    Session.remove()


def version_of(url: str) -> set[str]:
    """The database's alembic_version rows."""
    init_engine(url)
    try:
        return set(Session.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        Session.remove()


def test_a_scan_on_a_migrated_database_loads_nothing_it_does_not_need(tmp_path, redis_url):
    """At the head: the scan runs and records its run, and neither the web app, Celery,
    gevent, Apprise nor Alembic was imported for it."""
    url = f"sqlite:///{tmp_path / 'head.db'}"
    migrate.upgrade(url)
    wallets_in(url, 6)
    run, modules = run_scan(url, redis_url)
    assert (run["trigger"], run["state"], run["result"]["scanned"]) == ("cli", "succeeded", 6)
    assert "sqlalchemy" in modules and "dashboard.services.scans.catalogue" in modules
    assert unneeded(modules) == []


def test_a_scan_on_a_database_behind_migrates_it_first(tmp_path, redis_url):
    """Behind the head: the command runs Alembic's upgrade first, as every command does, then
    scans."""
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(url, "0001")
    assert not migrate.at_head(url)
    run, modules = run_scan(url, redis_url)
    assert run["state"] == "succeeded"
    assert "alembic" in modules and version_of(url) == set(migrate.head_revisions())
    assert migrate.at_head(url)


def test_the_head_read_from_the_scripts_is_alembics():
    """migrate.head_revisions reads the scripts as text; Alembic, loading them, agrees."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert migrate.head_revisions() == frozenset(heads) and len(heads) == 1


def test_a_new_database_is_not_at_the_head(tmp_path):
    """No alembic_version table yet: not at the head (the command migrates it)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert migrate.current_revisions(url) is None and not migrate.at_head(url)
