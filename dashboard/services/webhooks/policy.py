"""What the configuration says about webhooks, as plain values the services take.

Services never read the configuration themselves: the web, the worker and the tests build a
`Policy` from theirs (`policy_from(config)`) and pass it in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ..forecast.calendar import DEFAULT_ZONE

#: How long a message is retried before it fails, and how long an endpoint may fail before
#: it is disabled (DESIGN.md: 24 h). Time is passed in (`now`), so tests drive it.
RETRY_WINDOW = timedelta(hours=24)
#: A task holds the messages it was given this long; if it dies, the sweep sends them again.
LEASE = timedelta(minutes=10)
DEFAULT_DELAYS = (5, 300, 1800, 7200, 18000, 36000)


@dataclass(frozen=True)
class UrlRules:
    """Which receiver URLs are allowed."""

    https_only: bool = False
    allow_private: bool = True
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    """How messages are sent: timeout, backoff, concurrency and the URL rules."""

    timeout: float = 10.0
    delays: tuple[float, ...] = DEFAULT_DELAYS
    concurrency: int = 16
    rules: UrlRules = field(default_factory=UrlRules)
    zone: str = DEFAULT_ZONE  # CELERY_TIMEZONE: wallets' run-out forecasts (friendly hours)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt in a row (the last step repeats)."""
        step = self.delays[min(max(attempts, 1), len(self.delays)) - 1]
        return timedelta(seconds=step)


def parse_delays(text: str) -> tuple[float, ...]:
    """"5,300,1800" → (5.0, 300.0, 1800.0); anything unreadable gives the defaults."""
    try:
        delays = tuple(float(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        return DEFAULT_DELAYS
    return delays if delays and all(d >= 0 for d in delays) else DEFAULT_DELAYS


def rules_from(config) -> UrlRules:
    """The URL rules of a configuration (a class or mapping with WEBHOOK_* settings)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    hosts = frozenset(h.strip().lower() for h in (get("WEBHOOK_ALLOWED_HOSTS") or "").split(",")
                      if h.strip())
    return UrlRules(https_only=bool(get("WEBHOOK_HTTPS_ONLY", False)),
                    allow_private=bool(get("WEBHOOK_ALLOW_PRIVATE", True)), allowed_hosts=hosts)


def policy_from(config) -> Policy:
    """The sending policy of a configuration."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    return Policy(timeout=float(get("WEBHOOK_TIMEOUT_SECONDS", 10.0)),
                  delays=parse_delays(get("WEBHOOK_RETRY_DELAYS", "")),
                  concurrency=max(1, int(get("WEBHOOK_CONCURRENCY", 16))),
                  rules=rules_from(config),
                  zone=get("CELERY_TIMEZONE") or DEFAULT_ZONE)


def sealing_key(config) -> str:
    """The key that seals the endpoints' secrets."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    return get("WEBHOOK_SECRET_KEY") or get("SECRET_KEY") or ""
