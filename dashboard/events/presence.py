"""Who can receive a live event now: each web process records in Redis the users it holds
sockets for, so a scan publishes individual events only to people connected somewhere.

Keys, named after the Socket.IO channel so deployments sharing one Redis stay apart:
  <channel>:presence:<host id>  a SET of the user ids with a socket on that web process; it
                                expires TTL seconds after the process last renewed it
  <channel>:presence            a ZSET of those keys, scored by when they were renewed
A web process adds a user at their first socket and removes them at their last, and every
HEARTBEAT seconds writes its whole set again (repairing a Redis restart or a failed write)
and renews the expiry. A process that dies renews nothing, so its users disappear within
TTL seconds; the ZSET forgets such keys when a live process next beats.

Nothing is lost by this: a user who connects after a publisher read the set gets the
notification through `sync`, which live.js sends on every connect. The set is added to
before the connect handler returns, so the client's `sync` runs after the add; a publisher
reads the set after its commit. Whichever comes first, the socket hears the event or its
sync finds the row.
"""
from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)

TTL = 60  # seconds a web process's set outlives its last heartbeat
HEARTBEAT = 15  # seconds between heartbeats: a few may fail before the set expires
# After a failed write, joins and leaves skip Redis this long (the next heartbeat writes the
# whole set again): when Redis goes away every socket closes at once, and each must not
# wait out a connect timeout in turn.
QUIET = 5.0

# One round trip: the union of every web process's set (the key of a process that died has
# expired, and SUNION counts a missing key as empty).
_UNION = """
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
if #keys == 0 then return {} end
return redis.call('SUNION', unpack(keys))
"""


def index_key(channel: str) -> str:
    """The ZSET of every web process's presence key on this channel."""
    return f"{channel}:presence"


def host_key(channel: str, host_id: str) -> str:
    """One web process's SET of connected user ids."""
    return f"{index_key(channel)}:{host_id}"


class Presence:
    """This web process's connected users: counted here per socket, mirrored in Redis."""

    def __init__(self, client_factory, channel: str, host_id: str):
        """`client_factory()` gives the Redis client to write with (the queue manager's)."""
        self._client = client_factory
        self.index = index_key(channel)
        self.key = host_key(channel, host_id)
        self._sockets: dict[str, int] = {}  # sid -> user id, of this process's sockets
        self._count: dict[int, int] = {}  # user id -> how many of those sockets are theirs
        # Held across the Redis write so a join, a leave and a heartbeat's rewrite reach Redis
        # in the order they happened here.
        self._lock = threading.Lock()
        self._quiet_until = 0.0

    def joined(self, sid: str, user_id: int) -> None:
        """A socket of `user_id` connected; the user is in Redis when this returns."""
        with self._lock:
            if sid in self._sockets:
                return
            self._sockets[sid] = user_id
            self._count[user_id] = self._count.get(user_id, 0) + 1
            if self._count[user_id] == 1:
                self._write(lambda pipe: pipe.sadd(self.key, user_id))

    def left(self, sid: str) -> None:
        """A socket disconnected; its user leaves the set with their last socket here."""
        with self._lock:
            user_id = self._sockets.pop(sid, None)
            if user_id is None:
                return
            self._count[user_id] -= 1
            if not self._count[user_id]:
                del self._count[user_id]
                self._write(lambda pipe: pipe.srem(self.key, user_id))

    def users(self) -> set[int]:
        """The users with a socket on this process."""
        with self._lock:
            return set(self._count)

    def beat(self) -> bool:
        """Write the whole set again and renew it; False (logged) when Redis failed."""
        with self._lock:
            users = sorted(self._count)

            def rewrite(pipe):
                """Replace the set in one transaction: a reader never sees it half-written."""
                pipe.delete(self.key)
                if users:
                    pipe.sadd(self.key, *users)

            return self._write(rewrite, forget_before=time.time() - TTL)

    def _write(self, change, *, forget_before: float | None = None) -> bool:
        """Apply `change` to the set, renew its expiry and its place in the index, in one
        MULTI; False (logged) when Redis failed, or failed less than QUIET seconds ago and a
        join or leave is not tried (`forget_before` marks the heartbeat, which always is):
        the next heartbeat writes it all again."""
        if forget_before is None and time.monotonic() < self._quiet_until:
            return False
        try:
            with self._client().pipeline(transaction=True) as pipe:
                change(pipe)
                pipe.expire(self.key, TTL)
                pipe.zadd(self.index, {self.key: time.time()})
                if forget_before is not None:
                    pipe.zremrangebyscore(self.index, "-inf", forget_before)
                pipe.execute()
            return True
        except (redis.RedisError, OSError) as exc:
            self._quiet_until = time.monotonic() + QUIET
            log.warning("presence: could not update %s: %s", self.key, exc)
            return False


def connected_users(client, channel: str) -> set[int]:
    """Every user with a socket on some live web process of `channel`: one round trip.
    Raises redis errors (the caller decides what an unknown answer means)."""
    members = client.eval(_UNION, 1, index_key(channel))
    return {int(m) for m in members}
