"""The beat scheduler: RedBeat, made to ride out a Redis outage instead of exiting.

Stock RedBeat lets any Redis error escape `tick`, and Celery beat exits on it: a Redis restart
(or a beat started while Redis is still coming up) stopped the schedule, and with it the
minute sweep that sends the notifications of top-ups made while the broker was away
(tests/test_soak.py::test_redis_down_10s_during_top_ups_with_the_beat_sweeping). This
scheduler instead logs once, retries every RETRY_SECONDS, and when Redis answers again:

* takes the RedBeat lock again the way a starting beat does (blocking: if another beat got
  it meanwhile, this one becomes the standby), because a restarted Redis has forgotten it;
* stores the static schedule again (`setup_schedule`, as at start; entries that survived
  keep their last run time), because a restarted Redis has forgotten that too.

Scans that fell due during the outage are not replayed; the next one runs on time.
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

import redis
from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock

log = logging.getLogger(__name__)

#: Errors of an unreachable Redis, or of a lock a restarted Redis no longer has.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              redis.exceptions.LockError)


class ResilientRedBeatScheduler(RedBeatScheduler):
    """RedBeat that waits for Redis instead of exiting (see the module docstring)."""

    RETRY_SECONDS = 2.0

    def __init__(self, *args, **kwargs):
        """As RedBeat; `_lost` is set while Redis is away."""
        self._lost = False
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        """Store the static entries; if Redis is down at start, do it once it is back."""
        try:
            super().setup_schedule()
        except REDIS_DOWN as exc:
            self._went_away(exc)

    def tick(self, *args, **kwargs):
        """One beat: regain the lock and schedule after an outage, then RedBeat's tick."""
        try:
            if self._lost or (self.lock_key and self.lock is None):
                self._regain()
            return super().tick(*args, **kwargs)
        except REDIS_DOWN as exc:
            self._went_away(exc)
            return self.RETRY_SECONDS

    def _went_away(self, exc: Exception) -> None:
        """Say so once per outage."""
        if not self._lost:
            log.warning("beat: Redis is unavailable (%s); retrying every %.0f s",
                        exc, self.RETRY_SECONDS)
        self._lost = True

    def _regain(self) -> None:
        """Redis answers: hold the lock (waiting for it as a standby if another beat has it)
        and put the static schedule back."""
        if self.lock_key and not (self.lock is not None and self.lock.owned()):
            self.lock = None
            acquire_distributed_beat_lock(SimpleNamespace(scheduler=self))
        super().setup_schedule()
        if self._lost:
            log.info("beat: Redis is back; lock and schedule restored")
        self._lost = False

    def close(self):
        """Release the lock if Redis still answers; a dead Redis has no lock to release."""
        try:
            super().close()
        except REDIS_DOWN:
            self.lock = None
