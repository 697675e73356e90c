"""The app's Redis connection (rate limits, locks, health), made once per process."""
from __future__ import annotations

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

_clients: dict[str, redis.Redis] = {}


def get_redis(url: str | None = None) -> redis.Redis:
    """A Redis client for `url` (default: the app's REDIS_URL), with short timeouts."""
    url = url or current_app.config["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        # Short timeouts and no retries: a request that touches Redis (the sign-in rate
        # limit, health) must not stall for seconds when Redis is down.
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                      health_check_interval=30, retry=Retry(NoBackoff(), 0))
        _clients[url] = client
    return client
