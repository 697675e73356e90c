"""Configuration for development, testing and production, read from the environment.

Values come from environment variables, with an optional `.env` file beside this one loaded
first (real environment variables win). `get_config()` picks the class named by `APP_ENV`
(`development` by default).
"""
from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env", override=False)

#: The secret used when none is configured. Development only: production refuses it.
DEV_SECRET_KEY = "dev-insecure-secret-change-me"
#: Secrets that must never reach production, whatever the environment says.
KNOWN_WEAK_SECRETS = {DEV_SECRET_KEY, "", "secret", "changeme", "dev", "development", "test"}


def _env(name: str, default: str | None = None) -> str | None:
    """Return an environment variable, treating an empty value as unset."""
    value = os.environ.get(name)
    return value if value else default


def _default_sqlite_url() -> str:
    """The embedded default: a SQLite file under instance/ (WAL mode is set on connect)."""
    instance = BASE_DIR / "instance"
    instance.mkdir(exist_ok=True)
    return f"sqlite:///{instance / 'quantify.db'}"


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY = _env("SECRET_KEY", DEV_SECRET_KEY)
    DATABASE_URL = _env("DATABASE_URL") or _default_sqlite_url()
    # REDIS_URL unset means "the local default"; run.py may start a private server for it.
    REDIS_URL = _env("REDIS_URL", "redis://localhost:6379/0")
    CELERY_BROKER_URL = _env("CELERY_BROKER_URL") or REDIS_URL
    CELERY_RESULT_BACKEND = _env("CELERY_RESULT_BACKEND") or REDIS_URL
    CELERY_TIMEZONE = _env("CELERY_TIMEZONE", "Africa/Johannesburg")
    SOCKETIO_MESSAGE_QUEUE = _env("SOCKETIO_MESSAGE_QUEUE") or REDIS_URL
    # Pub/sub ignores the Redis database number, so parallel deployments (and test servers)
    # sharing one Redis are kept apart by channel name.
    SOCKETIO_CHANNEL = _env("SOCKETIO_CHANNEL", "quantify-socketio")
    SOCKETIO_ASYNC_MODE = _env("SOCKETIO_ASYNC_MODE", "threading")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    # CSRF is checked by our own before_request so bearer-token API calls can skip it.
    WTF_CSRF_CHECK_DEFAULT = False

    API_TOKEN_MAX_AGE = int(_env("API_TOKEN_MAX_AGE", str(7 * 24 * 3600)))
    LOGIN_RATE_LIMIT = int(_env("LOGIN_RATE_LIMIT", "10"))  # attempts per window per email+IP
    LOGIN_RATE_WINDOW = int(_env("LOGIN_RATE_WINDOW", "300"))  # seconds
    PAGE_SIZE = 50
    SCAN_CHUNK_SIZE = int(_env("SCAN_CHUNK_SIZE", "20000"))
    # A running scan writes a heartbeat with every chunk; this long without one and the reaper
    # marks the run failed (its worker died). Tests of a killed worker set a few seconds.
    TASK_RUN_STALE_SECONDS = int(_env("TASK_RUN_STALE_SECONDS", "600"))
    # A task taken by a worker that dies without acknowledging it (SIGKILL, power loss) goes
    # back to the queue this many seconds after it was taken. Keep it above the longest task
    # (a scan chunk: minutes at most): a task still running past it is delivered again, which
    # is harmless (every task is idempotent) but wasted work.
    CELERY_VISIBILITY_TIMEOUT = int(_env("CELERY_VISIBILITY_TIMEOUT", str(2 * 3600)))
    # Test and diagnostics only: when set, beat also sends the no-op task `beat_probe` every
    # this many seconds (tests count its deliveries to prove two beats fire each entry once).
    BEAT_PROBE_SECONDS = float(_env("BEAT_PROBE_SECONDS", "0"))
    NOTIFICATION_RETENTION_DAYS = int(_env("NOTIFICATION_RETENTION_DAYS", "90"))
    LOG_FORMAT = _env("LOG_FORMAT", "text")  # text | json
    TRUST_PROXY = _env("TRUST_PROXY", "0") == "1"  # set behind nginx (X-Forwarded-For)
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    # /metrics is open on a private network; set a token to require `Authorization: Bearer`.
    METRICS_TOKEN = _env("METRICS_TOKEN")
    SEED_DEMO_DATA = True
    TESTING = False
    DEBUG = False

    @classmethod
    def validate(cls) -> None:
        """Refuse settings that are unsafe for this environment (no-op outside production)."""


class DevelopmentConfig(Config):
    """Local development: debug pages, demo data, the development secret allowed."""

    ENV_NAME = "development"
    DEBUG = _env("FLASK_DEBUG", "0") == "1"


class TestingConfig(Config):
    """The test suite: tests pass their own DATABASE_URL and Redis settings."""

    ENV_NAME = "testing"
    TESTING = True
    SEED_DEMO_DATA = False
    LOGIN_RATE_LIMIT = 1000
    LOG_LEVEL = _env("LOG_LEVEL", "WARNING")


class ProductionConfig(Config):
    """Production: secure cookies, no demo data, and a real secret or no start at all."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SEED_DEMO_DATA = False
    SOCKETIO_ASYNC_MODE = _env("SOCKETIO_ASYNC_MODE", "gevent")
    LOG_FORMAT = _env("LOG_FORMAT", "json")

    @classmethod
    def validate(cls) -> None:
        """Raise RuntimeError when SECRET_KEY is missing, known or too short."""
        secret = os.environ.get("SECRET_KEY", "")
        if secret in KNOWN_WEAK_SECRETS or len(secret) < 32:
            raise RuntimeError(
                "Production needs SECRET_KEY set in the environment to a random value of at "
                "least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    """Return the configuration class for `name` (default: the APP_ENV variable)."""
    name = name or _env("APP_ENV", "development")
    try:
        config = CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown APP_ENV {name!r}; use one of {', '.join(CONFIGS)}") from None
    config.validate()
    return config
