"""Sends per second per channel, shared by every worker process: a token bucket in Redis.

Each send reserves a token with one atomic script and is told how long to wait for it (the
bucket may go into debt, so waiters are served in order and none spins). Redis's own clock
is used, so processes on several hosts agree. If Redis cannot be reached the limit is kept
per process instead of not at all.
"""
from __future__ import annotations

import threading
import time

import redis

_RESERVE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""


class RateLimit:
    """`rate` sends a second for one channel, a second's worth in a burst."""

    def __init__(self, client: redis.Redis | None, key: str, rate: float):
        """`client` None keeps the limit in this process only."""
        self.client, self.key, self.rate = client, key, max(float(rate), 0.001)
        self._script = client.register_script(_RESERVE) if client is not None else None
        self._lock = threading.Lock()
        self._next = 0.0  # the local fallback's next free slot (monotonic)

    def wait_time(self) -> float:
        """Reserve one send; seconds to wait before making it."""
        if self._script is not None:
            try:
                return float(self._script(keys=[self.key], args=[self.rate, self.rate]))
            except (redis.RedisError, OSError):
                pass
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now - 1.0)  # a second's worth may go at once
            self._next = slot + 1.0 / self.rate
            return max(slot - now, 0.0)

    def acquire(self) -> None:
        """Wait for this send's turn."""
        delay = self.wait_time()
        if delay > 0:
            time.sleep(delay)
