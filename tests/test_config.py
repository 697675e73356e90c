"""Configuration: environments, and production refusing a weak secret."""
import importlib

import pytest


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
    config = load_config(monkeypatch, SECRET_KEY="x" * 16 + "y" * 16 + "z" * 8)
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


@pytest.fixture(autouse=True)
def _restore_config():
    """Leave config.py as the environment of the test session had it."""
    yield
    import config

    importlib.reload(config)
