"""Configuration for development, testing and production, read from the environment.

Values come from environment variables, with an optional `.env` file beside this one loaded
first (real environment variables win). Nothing is read when this module is imported:
`get_config()` picks the class named by `APP_ENV` (`development` by default) and returns a
copy of it holding the values the environment has at that moment, which `create_app`, the
worker and the CLI call as they are made. An `Env` attribute read on a class itself (tests
subclass TestingConfig) reads the environment at that moment too.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent

#: The secret used when none is configured. Development only: production refuses it.
DEV_SECRET_KEY = "dev-insecure-secret-change-me"
#: Secrets that must never reach production, whatever the environment says.
KNOWN_WEAK_SECRETS = {DEV_SECRET_KEY, "", "secret", "changeme", "dev", "development", "test"}
#: The payment provider's webhook secret when none is configured (development and tests, whose
#: test gateway signs with it). Made from a phrase, so it is plainly not a real secret.
DEV_PAYMENT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(
    b"quantify-notify development payments only").decode()


def _env(name: str, default: str | None = None) -> str | None:
    """Return an environment variable, treating an empty value as unset."""
    value = os.environ.get(name)
    return value if value else default


def _flag(value: str) -> bool:
    """"1" is on, anything else off."""
    return value == "1"


def _seconds_list(value: str) -> tuple[float, ...]:
    """"60,180,480" → (60.0, 180.0, 480.0): the waits before each retry."""
    return tuple(float(part) for part in value.split(",") if part.strip())


def _default_sqlite_url(_cls=None) -> str:
    """The embedded default: a SQLite file under instance/ (WAL mode is set on connect)."""
    instance = BASE_DIR / "instance"
    instance.mkdir(exist_ok=True)
    return f"sqlite:///{instance / 'quantify.db'}"


class Env:
    """A setting read from the environment variable of its name (or `var`) when it is read.

    Unset or empty, it is `default`, or `fallback(config_class)` when given (a setting that
    defaults to another one, like CELERY_BROKER_URL to REDIS_URL).
    """

    def __init__(self, default: Any = None, cast: Callable[[str], Any] = str, *,
                 var: str | None = None, fallback: Callable[[type], Any] | None = None):
        """`cast` turns the variable's text into the value."""
        self.default, self.cast, self.var, self.fallback = default, cast, var, fallback

    def __set_name__(self, owner, name: str) -> None:
        """The variable is named after the attribute unless `var` says otherwise."""
        self.var = self.var or name

    def __get__(self, instance, owner) -> Any:
        """The value, from the environment as it is now."""
        raw = _env(self.var)
        if raw is not None:
            return self.cast(raw)
        return self.fallback(owner) if self.fallback else self.default


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY = Env(DEV_SECRET_KEY)
    DATABASE_URL = Env(fallback=_default_sqlite_url)
    # REDIS_URL unset means "the local default"; run.py may start a private server for it.
    REDIS_URL = Env("redis://localhost:6379/0")
    CELERY_BROKER_URL = Env(fallback=lambda cls: cls.REDIS_URL)
    CELERY_RESULT_BACKEND = Env(fallback=lambda cls: cls.REDIS_URL)
    CELERY_TIMEZONE = Env("Africa/Johannesburg")
    SOCKETIO_MESSAGE_QUEUE = Env(fallback=lambda cls: cls.REDIS_URL)
    # Pub/sub ignores the Redis database number, so parallel deployments (and test servers)
    # sharing one Redis are kept apart by channel name.
    SOCKETIO_CHANNEL = Env("quantify-socketio")
    SOCKETIO_ASYNC_MODE = Env("threading")
    # Engine.IO heartbeat: the server pings every SOCKETIO_PING_INTERVAL seconds and drops a
    # client whose answer takes longer than SOCKETIO_PING_TIMEOUT. Every ping is a greenlet,
    # a timer and two frames per socket: at 10,000 sockets and 25 s, a fifth of the web's busy
    # time (bench/RESULTS.md, fan-out), so 50 s. A generous timeout keeps a busy process (a
    # fan-out, a burst of reconnects) from dropping healthy clients, whose reconnects and
    # syncs would load it further. A silent network failure is noticed within both summed.
    SOCKETIO_PING_INTERVAL = Env(50, int)
    SOCKETIO_PING_TIMEOUT = Env(60, int)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    # CSRF is checked by our own before_request so bearer-token API calls can skip it.
    WTF_CSRF_CHECK_DEFAULT = False

    # The largest request body in bytes: a bigger one is refused with 413 before it is read to
    # the end (a form, an API body, a chunked upload alike); form fields alone are held to the
    # same. The API's JSON bodies have their own, smaller limit (64 KiB, dashboard/api/spec.py).
    MAX_CONTENT_LENGTH = Env(1024 * 1024, int)
    MAX_FORM_MEMORY_SIZE = Env(fallback=lambda cls: cls.MAX_CONTENT_LENGTH, cast=int)
    API_TOKEN_MAX_AGE = Env(7 * 24 * 3600, int)
    # Sign-in limits (dashboard/services/accounts/limits.py), for the form and the token
    # endpoint together. Per client address, across accounts: LOGIN_RATE_LIMIT failed
    # attempts per LOGIN_RATE_WINDOW seconds. Per account (the email, whether or not it
    # exists), across addresses: LOGIN_ACCOUNT_FREE failed attempts, then each further one
    # waits LOGIN_ACCOUNT_DELAY seconds, doubled per failure, up to LOGIN_ACCOUNT_MAX_DELAY.
    LOGIN_RATE_LIMIT = Env(20, int)
    LOGIN_RATE_WINDOW = Env(300, int)
    LOGIN_ACCOUNT_FREE = Env(5, int)
    LOGIN_ACCOUNT_DELAY = Env(1.0, float)
    LOGIN_ACCOUNT_MAX_DELAY = Env(900.0, float)
    # Sign-in sessions (dashboard/services/accounts/sessions.py): a session unused for
    # SESSION_IDLE_SECONDS, or older than SESSION_ABSOLUTE_SECONDS, is over and its user
    # signs in again (OWASP ASVS 3.3.2: 30 minutes idle, 12 hours at most).
    SESSION_IDLE_SECONDS = Env(30 * 60, int)
    SESSION_ABSOLUTE_SECONDS = Env(12 * 3600, int)
    PAGE_SIZE = 50
    SCAN_CHUNK_SIZE = Env(20000, int)
    # A running scan writes a heartbeat with every chunk; this long without one and the reaper
    # marks the run failed (its worker died). Tests of a killed worker set a few seconds.
    TASK_RUN_STALE_SECONDS = Env(600, int)
    # A task taken by a worker that dies without acknowledging it (SIGKILL, power loss) goes
    # back to the queue this many seconds after it was taken. Keep it above the longest task
    # (a scan chunk: minutes at most): a task still running past it is delivered again, which
    # is harmless (every task is idempotent) but wasted work.
    CELERY_VISIBILITY_TIMEOUT = Env(2 * 3600, int)
    # The worker sends task events (received, started, succeeded, ...), so Flower and
    # `celery events` can show our tasks; 0 turns them off (bench/RESULTS.md has the cost).
    CELERY_TASK_EVENTS = Env(True, _flag)
    # Test and diagnostics only: when set, beat also sends the no-op task `beat_probe` every
    # this many seconds (tests count its deliveries to prove two beats fire each entry once).
    BEAT_PROBE_SECONDS = Env(0.0, float)
    NOTIFICATION_RETENTION_DAYS = Env(90, int)
    LOG_FORMAT = Env("text")  # text | json
    TRUST_PROXY = Env(False, _flag)  # set behind nginx (X-Forwarded-For)
    LOG_LEVEL = Env("INFO")
    # /metrics and the details of /readyz: open outside production unless a token is set;
    # in production they need `Authorization: Bearer <METRICS_TOKEN>` (no token, no access).
    METRICS_TOKEN = Env()
    # -- channels beyond in-app (services/channels) --------------------------------------
    # Apprise URLs in which {email} / {phone} stand for the recipient's address; unset, the
    # channel is off and its deliveries are suppressed. README "Channels" has examples.
    EMAIL_URL = Env()
    SMS_URL = Env()
    # Where residents open the dashboard: the links in emails.
    PUBLIC_URL = Env("http://127.0.0.1:5000")
    SMS_RATE_PER_SECOND = Env(10.0, float)  # per channel, across every worker process
    EMAIL_RATE_PER_SECOND = Env(50.0, float)
    CHANNEL_TIMEOUT_SECONDS = Env(10.0, float)  # connect and read, per send
    DELIVERY_CONCURRENCY = Env(8, int)  # sends in flight per worker process and channel
    # Waits before the 2nd..5th attempt after a transient error: 5 attempts over 30 minutes.
    DELIVERY_RETRY_SECONDS = Env((60.0, 180.0, 480.0, 1080.0), _seconds_list)
    # A delivery left `sending` this long (its worker died mid-send) is failed "outcome
    # unknown" and never sent again by itself. Keep it above CHANNEL_TIMEOUT_SECONDS.
    DELIVERY_SENDING_TIMEOUT = Env(120.0, float)
    DELIVERY_SWEEP_SECONDS = Env(30.0, float)  # beat: release held, fail stale, resend due
    # Development: what the local SMTP server and SMS sink received (the Outbox page).
    OUTBOX_DIR = Env()

    # Payments: the provider signs its webhooks with this `whsec_...` secret (Standard
    # Webhooks); residents pay on its page, PAYMENT_CHECKOUT_URL (a template naming
    # {payment_id}, {amount}, {method}, {return_url}), or on the built-in test gateway.
    PAYMENT_WEBHOOK_SECRET = Env(DEV_PAYMENT_WEBHOOK_SECRET)
    PAYMENT_CHECKOUT_URL = Env()
    PAYMENT_TEST_GATEWAY = Env(False, _flag)

    # Outbound webhooks (services/webhooks): seconds to wait for an answer; the backoff
    # between attempts in seconds (the last step repeats until the 24 h window ends); the
    # requests one task sends at once; who may be a receiver: private and loopback
    # addresses (off in production), plain http (refused in production), and an optional
    # allow-list of host names (comma-separated; empty: any host the rules above allow).
    WEBHOOK_TIMEOUT_SECONDS = Env(10.0, float)
    WEBHOOK_RETRY_DELAYS = Env("5,300,1800,7200,18000,36000")
    WEBHOOK_CONCURRENCY = Env(16, int)
    WEBHOOK_ALLOW_PRIVATE = Env(True, _flag)
    WEBHOOK_HTTPS_ONLY = Env(False, _flag)
    WEBHOOK_ALLOWED_HOSTS = Env("")
    # Seals the endpoints' signing secrets in the database; defaults to SECRET_KEY (changing
    # it makes the stored secrets unreadable: endpoints must then be registered again).
    WEBHOOK_SECRET_KEY = Env(fallback=lambda cls: cls.SECRET_KEY)
    SEED_DEMO_DATA = True
    TESTING = False
    DEBUG = False

    @classmethod
    def validate(cls) -> None:
        """Refuse settings that are unsafe for this environment (no-op outside production)."""


class DevelopmentConfig(Config):
    """Local development: debug pages, demo data, the development secret allowed."""

    ENV_NAME = "development"
    DEBUG = Env(False, _flag, var="FLASK_DEBUG")
    PAYMENT_TEST_GATEWAY = Env(True, _flag)  # "Pay" and "Decline" play the provider


class TestingConfig(Config):
    """The test suite: tests pass their own DATABASE_URL and Redis settings."""

    ENV_NAME = "testing"
    TESTING = True
    SEED_DEMO_DATA = False
    # Many sign-ins from one address and of one account: tests of the limits set their own
    # numbers. A day-long address window, so no test sees a window end in its middle.
    LOGIN_RATE_LIMIT = Env(1000, int)
    LOGIN_RATE_WINDOW = Env(86400, int)
    LOGIN_ACCOUNT_FREE = Env(1000, int)
    LOG_LEVEL = Env("WARNING")
    PAYMENT_TEST_GATEWAY = Env(True, _flag)
    # Receivers are the tests' own servers on loopback: a fuzzed registration can never make
    # a worker post anywhere else.
    WEBHOOK_ALLOWED_HOSTS = Env("127.0.0.1,localhost")


class ProductionConfig(Config):
    """Production: secure cookies, no demo data, and a real secret or no start at all."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = Env(True, _flag)
    REMEMBER_COOKIE_SECURE = Env(True, _flag, var="SESSION_COOKIE_SECURE")
    SEED_DEMO_DATA = False
    SOCKETIO_ASYNC_MODE = Env("gevent")
    LOG_FORMAT = Env("json")
    WEBHOOK_ALLOW_PRIVATE = Env(False, _flag)
    WEBHOOK_HTTPS_ONLY = Env(True, _flag)

    @classmethod
    def validate(cls) -> None:
        """Raise RuntimeError when SECRET_KEY is missing, known or too short, or the payment
        settings are unsafe."""
        secret = os.environ.get("SECRET_KEY", "")
        if secret in KNOWN_WEAK_SECRETS or len(secret) < 32:
            raise RuntimeError(
                "Production needs SECRET_KEY set in the environment to a random value of at "
                "least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        cls._validate_payments()

    @classmethod
    def _validate_payments(cls) -> None:
        """Refuse the development webhook secret (or none, or a malformed one) and the test
        gateway, which would let anybody credit a wallet by pressing "Pay"."""
        from dashboard.services.payments.webhook import webhook

        secret = os.environ.get("PAYMENT_WEBHOOK_SECRET", "")
        try:
            webhook(secret)
        except ValueError as exc:
            raise RuntimeError(f"Production needs PAYMENT_WEBHOOK_SECRET, the payment "
                               f"provider's whsec_... webhook secret ({exc}).") from None
        if secret == DEV_PAYMENT_WEBHOOK_SECRET:
            raise RuntimeError("Production refuses the development PAYMENT_WEBHOOK_SECRET: "
                               "set the payment provider's own.")
        if cls.PAYMENT_TEST_GATEWAY:
            raise RuntimeError("Production refuses PAYMENT_TEST_GATEWAY=1: the test gateway "
                               "credits wallets without any payment.")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    """The configuration class for `name` (default: the APP_ENV variable), as a copy holding
    the values the environment (and `.env`) has now; RuntimeError for an unknown name or
    unsafe production settings."""
    load_dotenv(BASE_DIR / ".env", override=False)
    name = name or _env("APP_ENV", "development")
    try:
        base = CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown APP_ENV {name!r}; use one of {', '.join(CONFIGS)}") from None
    base.validate()
    values = {key: getattr(base, key) for key in dir(base) if key.isupper()}
    return type(base.__name__, (base,), values)
