"""Configuration: environments, and production refusing a weak secret."""
import importlib
import os

import pytest

from tests import provider


def load_config(monkeypatch, **env):
    """config.py re-read under the given environment variables."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    import config

    return importlib.reload(config)


@pytest.mark.parametrize("secret", [None, "", "dev-insecure-secret-change-me", "short-secret"])
def test_production_refuses_missing_or_weak_secret(monkeypatch, secret):
    config = load_config(monkeypatch, SECRET_KEY=secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config.get_config("production")


def test_production_accepts_a_strong_secret(monkeypatch):
    config = load_config(monkeypatch, SECRET_KEY="x" * 16 + "y" * 16 + "z" * 8,
                         PAYMENT_WEBHOOK_SECRET=provider.fresh_secret(), PAYMENT_TEST_GATEWAY=None)
    cls = config.get_config("production")
    assert cls.SESSION_COOKIE_SECURE is True
    assert cls.SEED_DEMO_DATA is False


def test_development_defaults(monkeypatch):
    config = load_config(monkeypatch, DATABASE_URL=None, CELERY_TIMEZONE=None, REDIS_URL=None)
    cls = config.get_config("development")
    assert cls.DATABASE_URL.startswith("sqlite:///") and cls.DATABASE_URL.endswith("quantify.db")
    assert cls.CELERY_TIMEZONE == "Africa/Johannesburg"
    assert cls.CELERY_BROKER_URL == cls.REDIS_URL == "redis://localhost:6379/0"


def test_environment_overrides(monkeypatch):
    config = load_config(monkeypatch, REDIS_URL="redis://example:6380/1",
                         CELERY_BROKER_URL=None, SOCKETIO_MESSAGE_QUEUE=None)
    cls = config.get_config("development")
    assert cls.CELERY_BROKER_URL == "redis://example:6380/1"
    assert cls.SOCKETIO_MESSAGE_QUEUE == "redis://example:6380/1"


def test_unknown_environment_is_refused(monkeypatch):
    config = load_config(monkeypatch)
    with pytest.raises(RuntimeError, match="APP_ENV"):
        config.get_config("staging")


def test_get_config_reads_the_environment_when_called(monkeypatch):
    """No reload: values set after config.py was imported are what get_config() returns, and
    each call reads afresh (a class made earlier keeps what it read)."""
    import config

    monkeypatch.setenv("TASK_RUN_STALE_SECONDS", "7")
    monkeypatch.setenv("SCAN_CHUNK_SIZE", "123")
    earlier = config.get_config("testing")
    assert (earlier.TASK_RUN_STALE_SECONDS, earlier.SCAN_CHUNK_SIZE) == (7, 123)
    monkeypatch.setenv("TASK_RUN_STALE_SECONDS", "9")
    monkeypatch.delenv("SCAN_CHUNK_SIZE")
    later = config.get_config("testing")
    assert (later.TASK_RUN_STALE_SECONDS, later.SCAN_CHUNK_SIZE) == (9, 20000)
    assert earlier.TASK_RUN_STALE_SECONDS == 7
    assert later.LOGIN_RATE_LIMIT == 1000 and later.TESTING is True  # the class's own values


def test_importing_the_app_and_the_worker_reads_no_configuration():
    """Importing config, dashboard and worker.celery_app reads nothing: the Celery app is
    configured when first used (the worker being made), from the environment of that moment,
    and the scans' stale limit comes from the app, not from an import-time class."""
    import subprocess
    import sys
    from pathlib import Path

    code = "\n".join([
        "import os",
        "import config, dashboard, worker.celery_app as m, worker.scan_tasks",
        "from dashboard.services.scans import runs",
        "assert not m.celery.configured, 'configured at import'",
        "assert not hasattr(runs, 'STALE_AFTER')",
        "os.environ['CELERY_TIMEZONE'] = 'UTC'",
        "os.environ['CELERY_VISIBILITY_TIMEOUT'] = '77'",
        "assert m.celery.conf.timezone == 'UTC'",
        "assert m.celery.conf.broker_transport_options['visibility_timeout'] == 77",
        "assert m.celery.conf.quantify_config.CELERY_TIMEZONE == 'UTC'",
        "assert m.celery.conf.worker_send_task_events is True",
        "print('ok')",
    ])
    env = {k: v for k, v in os.environ.items()
           if k not in ("CELERY_TIMEZONE", "CELERY_VISIBILITY_TIMEOUT")}
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                          env={**env, "APP_ENV": "testing"}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.fixture(autouse=True)
def _restore_config():
    """Leave config.py as the environment of the test session had it."""
    yield
    import config

    importlib.reload(config)
