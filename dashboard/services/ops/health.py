"""Health of the moving parts the dashboard cannot see from the database: Redis, beat, worker.

Every check is bounded (≤ 0.5 s each) and never raises: a health widget that hangs or errors
when Redis is down would hide the very problem it exists to show. The checks report what they
observed, and say "unknown" rather than guess when a dependency they need is down.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_TIMEOUT = 0.3  # seconds, connect and read: a local Redis answers in under a millisecond
PING_TIMEOUT = 0.5  # seconds to wait for the first worker's pong
# The beat fires `sweep_transaction_notifications` every minute, so a last run older than this
# means the beat holding the lock has stopped ticking.
BEAT_STALE_AFTER = timedelta(minutes=3)
BEAT_TICK_ENTRY = "sweep_transaction_notifications"
CACHE_SECONDS = 5.0  # one probe serves every operator tab refreshing within this window


@dataclass
class Check:
    """One component's health: `state` is up, down, stalled or unknown; `detail` says why."""

    name: str
    state: str
    detail: str

    @property
    def ok(self) -> bool:
        """Up and working."""
        return self.state == "up"


_clients: dict[str, redis.Redis] = {}
_cache: dict[tuple, tuple[float, list[Check]]] = {}
_lock = threading.Lock()


def health_redis(url: str) -> redis.Redis:
    """A Redis client for health probes: short timeouts and no retries (fail fast, not later)."""
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                      socket_connect_timeout=REDIS_TIMEOUT,
                                      retry=Retry(NoBackoff(), 0), health_check_interval=0)
        _clients[url] = client
    return client


def check_redis(client: redis.Redis) -> Check:
    """PING, timed."""
    started = time.perf_counter()
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return Check("Redis", "down", f"Not answering: {_short(exc)}")
    return Check("Redis", "up", f"Answered in {(time.perf_counter() - started) * 1000:.0f} ms")


def beat_key_prefix(channel: str) -> str:
    """RedBeat's key prefix, as worker/celery_app.py configures it (redbeat_key_prefix)."""
    return f"{channel}:redbeat:"


def check_beat(client: redis.Redis, channel: str, now: datetime) -> Check:
    """RedBeat's lock says a beat is running; the minute entry's last run says it is ticking.

    The lock expires 60 s after its beat dies (redbeat_lock_timeout), and the live beat renews
    it every tick, so "no lock" is an honest "not running". A held lock with a stale minute
    entry means a beat process is alive but no longer firing anything.
    """
    prefix = beat_key_prefix(channel)
    try:
        with client.pipeline() as pipe:
            pipe.pttl(prefix + ":lock")
            pipe.hget(prefix + BEAT_TICK_ENTRY, "meta")
            ttl, meta = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        return Check("Beat", "unknown", f"Cannot read the schedule from Redis: {_short(exc)}")
    last = _last_run_at(meta)
    if ttl is None or ttl < 0:
        seen = f" Last tick {_ago(now, last)}." if last else ""
        return Check("Beat", "down", "No beat holds the schedule lock." + seen)
    if last is not None and now - last > BEAT_STALE_AFTER:
        return Check("Beat", "stalled", f"Lock held but the last tick was {_ago(now, last)}.")
    return Check("Beat", "up", f"Last tick {_ago(now, last)}." if last else "Holding the lock.")


def check_worker(ping: Callable[[], list]) -> Check:
    """A broadcast ping through the broker; up as soon as one worker answers."""
    try:
        replies = ping()
    except Exception as exc:  # noqa: BLE001 - kombu and redis raise many types for a dead broker
        return Check("Worker", "down", f"The broker is unreachable: {_short(exc)}")
    if not replies:
        return Check("Worker", "down", f"No worker answered within {PING_TIMEOUT:g} s.")
    names = sorted(name for reply in replies for name in reply)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return Check("Worker", "up", f"Answered: {shown}.")


def system_health(*, redis_url: str, broker_url: str, channel: str,
                  ping: Callable[[], list], now: datetime | None = None,
                  use_cache: bool = True) -> list[Check]:
    """Redis, beat and worker, in that order; cached for a few seconds per process.

    When the broker is the Redis that just failed its ping, the worker is reported unknown
    instead of pinged: a cold Celery connection to a dead broker takes seconds to give up.
    """
    key = (redis_url, broker_url, channel)
    if use_cache:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    now = now or datetime.now(UTC)
    client = health_redis(redis_url)
    redis_check = check_redis(client)
    if redis_check.ok:
        beat = check_beat(client, channel, now)
    else:
        beat = Check("Beat", "unknown", "Its schedule lives in Redis, which is down.")
    broker_down = (broker_url == redis_url and not redis_check.ok) or not _reachable(broker_url)
    if broker_down:
        worker = Check("Worker", "unknown", "The broker is down, so workers cannot be asked.")
    else:
        worker = check_worker(ping)
    checks = [redis_check, beat, worker]
    with _lock:
        _cache[key] = (time.monotonic(), checks)
    return checks


def _reachable(url: str) -> bool:
    """A Redis broker answers a PING (other brokers are assumed reachable and pinged)."""
    if not url.startswith(("redis://", "rediss://")):
        return True
    return check_redis(health_redis(url)).ok


def _last_run_at(meta: bytes | None) -> datetime | None:
    """The last_run_at RedBeat stored for an entry (its own JSON encoding of a datetime)."""
    if not meta:
        return None
    try:
        value = json.loads(meta).get("last_run_at")
        if not isinstance(value, dict) or value.get("__type__") != "datetime":
            return None
        zone = value.get("timezone", "UTC")
        fields = {k: int(value[k]) for k in ("year", "month", "day", "hour", "minute", "second",
                                              "microsecond")}
        if isinstance(zone, (int, float)):
            tz = timezone(timedelta(seconds=zone))
        else:
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(zone)
        return datetime(tzinfo=tz, **fields).astimezone(UTC)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # an entry written by another RedBeat version: no tick time, not an error


def _ago(now: datetime, then: datetime | None) -> str:
    """'12 s ago', '4 min ago', '3 h ago'."""
    if then is None:
        return "never"
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _short(exc: BaseException) -> str:
    """The first line of an error, short enough for a status card."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
