"""The sign-in limits: per account across every address, and per address across accounts.

Two limits, checked before any password is looked at, for the sign-in form and the token
endpoint alike:

* **Per account** (the email as typed, lower-cased, whether or not it has an account, so the
  limit tells nothing about which emails exist): the first `account_free` failed attempts
  are free; after that each attempt must wait a delay that doubles with every further
  failure (`account_delay`, 2×, 4×, ... up to `account_max_delay`), from whichever address
  it comes. A success clears the account's count. Delays, not a hard lockout: an attacker
  can slow a victim's sign-in down, never lock them out for good.
* **Per address** (an IPv4 address, or the /64 of an IPv6 one): at most `address_limit`
  failed attempts per `address_window` seconds, whichever emails they name. An attempt is
  counted when it starts (so a burst of parallel guesses cannot all slip through before the
  first failure is recorded) and refunded when it succeeds, so a shared address (an
  estate's Wi-Fi) is not limited by its residents' good sign-ins.

The counters live in Redis, shared by every web process, updated by Lua scripts so each
decision is atomic. When Redis fails, the same rules run on counters kept in this process
(`LocalStore`): an outage never lifts the limit, it only makes it per process (with N web
processes an address may try N times as often until Redis is back). After a Redis failure
the process stays on its own counters for `QUIET_SECONDS` instead of paying a timeout on
every attempt.

Kept rather than Flask-Limiter: its limits are fixed or moving windows per route; growing
delays per account, a refund on success and one count shared by two routes would all be
code on top of it, and its in-memory fallback is a separate limiter whose counts start from
zero in the same way as ours.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

QUIET_SECONDS = 5.0
PREFIX = "quantify:signin"


@dataclass(frozen=True)
class Policy:
    """The numbers of both limits (config.py's LOGIN_* settings)."""

    account_free: int = 5
    account_delay: float = 1.0
    account_max_delay: float = 900.0
    account_memory: float = 3600.0  # seconds of quiet after which an account's count is forgotten
    address_limit: int = 20
    address_window: float = 300.0
    scope: str = ""  # whose counters (a deployment's channel name: several may share a Redis)


@dataclass(frozen=True)
class Decision:
    """Whether an attempt may go on; when not, how many seconds to wait."""

    allowed: bool
    retry_after: int = 0
    limit: str = ""  # "account" or "address" when refused


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: the decision, and where it was counted (for `succeeded`)."""

    decision: Decision
    account: str  # the key of the account's counter
    address_window: str  # the key of the address counter's current window
    local: bool  # counted in this process (Redis was unavailable)


def account_key(email: str, scope: str = "") -> str:
    """The account counter's key: a hash of the email as typed (no emails in Redis keys)."""
    email = (email or "").strip().lower()
    digest = hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:32]
    return f"{PREFIX}:{scope}:account:{digest}"


def address_key(address: str | None, scope: str = "") -> str:
    """The address counter's key: the IPv4 address, or the /64 network of an IPv6 one (one
    host is given a whole /64)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"{PREFIX}:{scope}:address:unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:  # ::ffff:192.0.2.1 is the IPv4 address
            return f"{PREFIX}:{scope}:address:{ip.ipv4_mapped}"
        return f"{PREFIX}:{scope}:address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"{PREFIX}:{scope}:address:{ip}"


def account_delay(failures: int, policy: Policy) -> float:
    """The wait before the next attempt after `failures` failures (0 while still free)."""
    over = failures - policy.account_free
    if over < 0:
        return 0.0
    return min(policy.account_max_delay, policy.account_delay * 2 ** min(over, 40))


# KEYS[1] the account's hash {n: failures, until: epoch seconds}; ARGV now, free, delay, max,
# memory. Refused while `until` is ahead; otherwise counts the attempt and, past the free
# ones, sets the next `until`. Returns {allowed, wait}.
ACCOUNT_SCRIPT = """
local now = tonumber(ARGV[1])
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now < untl then return {0, tostring(untl - now)} end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local over = n - tonumber(ARGV[2])
if over >= 0 then
  local wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(over, 40))
  redis.call('HSET', KEYS[1], 'until', tostring(now + wait))
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4]) + tonumber(ARGV[5])))
return {1, '0'}
"""
# KEYS[1] the address counter of the current window; ARGV limit, window, seconds left.
ADDRESS_SCRIPT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, ARGV[3]} end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return {1, '0'}
"""

REFUND_SCRIPT = ("if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then "
                 "return redis.call('DECR', KEYS[1]) end return 0")


class LocalStore:
    """The same two rules on counters in this process, for when Redis is unreachable."""

    def __init__(self):
        """Empty counters."""
        self._lock = threading.Lock()
        self._accounts: dict[str, list[float]] = {}  # key -> [failures, until, last]
        self._addresses: dict[str, int] = {}

    def account(self, key: str, now: float, policy: Policy) -> Decision:
        """ACCOUNT_SCRIPT in Python."""
        with self._lock:
            n, until, last = self._accounts.get(key, [0, 0.0, now])
            if now - last > policy.account_max_delay + policy.account_memory:
                n, until = 0, 0.0
            if now < until:
                return Decision(False, max(1, math.ceil(until - now)), "account")
            n += 1
            wait = account_delay(n, policy)
            self._accounts[key] = [n, now + wait if wait else until, now]
            return Decision(True)

    def address(self, key: str, limit: int) -> Decision:
        """ADDRESS_SCRIPT in Python (`key` names the window)."""
        with self._lock:
            n = self._addresses.get(key, 0)
            if n >= limit:
                return Decision(False, 0, "address")
            self._addresses[key] = n + 1
            if len(self._addresses) > 100_000:  # old windows: forget them all at once
                self._addresses = {key: n + 1}
            return Decision(True)

    def refund(self, key: str) -> None:
        """An attempt of this address window succeeded."""
        with self._lock:
            if self._addresses.get(key, 0) > 0:
                self._addresses[key] -= 1

    def clear(self, key: str) -> None:
        """An account signed in: forget its failures."""
        with self._lock:
            self._accounts.pop(key, None)


class SignInLimiter:
    """Both limits on a Redis client, falling back to a LocalStore when Redis fails."""

    def __init__(self, local: LocalStore | None = None):
        """`local`: the in-process counters (one per process, shared by its apps)."""
        self.local = local or LocalStore()
        self._quiet_until: dict[int, float] = {}  # per Redis client

    def _redis(self, client):
        """The client, unless it failed a moment ago."""
        if client is None or time.monotonic() < self._quiet_until.get(id(client), 0.0):
            return None
        return client

    def _failed(self, client, exc: Exception) -> None:
        """Use the local counters for a while; say so once per quiet period."""
        self._quiet_until[id(client)] = time.monotonic() + QUIET_SECONDS
        log.warning("sign-in limits: Redis unavailable (%s); counting in this process", exc)

    def attempt(self, client, email: str, address: str | None, policy: Policy,
                *, now: float | None = None) -> Attempt:
        """Count one sign-in attempt and decide whether it may go on."""
        now = time.time() if now is None else now
        window = int(now // policy.address_window)
        left = max(1, math.ceil((window + 1) * policy.address_window - now))
        addr = f"{address_key(address, policy.scope)}:{window}"
        acct = account_key(email, policy.scope)
        decision = self._attempt_redis(self._redis(client), acct, addr, now, left, policy)
        if decision is not None:
            return Attempt(decision, acct, addr, local=False)
        decision = self.local.address(addr, policy.address_limit)
        if decision.allowed:
            decision = self.local.account(acct, now, policy)
            if not decision.allowed:
                self.local.refund(addr)  # refused before any password was tried
        else:
            decision = Decision(False, left, "address")
        return Attempt(decision, acct, addr, local=True)

    def _attempt_redis(self, client, acct, addr, now, left, policy) -> Decision | None:
        """Both scripts on Redis; None when Redis is unavailable."""
        if client is None:
            return None
        try:
            ok, wait = client.eval(ADDRESS_SCRIPT, 1, addr, policy.address_limit,
                                   policy.address_window, left)
            if not int(ok):
                return Decision(False, int(float(wait)), "address")
            ok, wait = client.eval(ACCOUNT_SCRIPT, 1, acct, now, policy.account_free,
                                   policy.account_delay, policy.account_max_delay,
                                   policy.account_memory)
            if not int(ok):
                client.eval(REFUND_SCRIPT, 1, addr)  # refused before any password was tried
                return Decision(False, max(1, math.ceil(float(wait))), "account")
            return Decision(True)
        except (redis.RedisError, OSError) as exc:
            self._failed(client, exc)
            return None

    def succeeded(self, client, attempt: Attempt) -> None:
        """A sign-in succeeded: clear the account's failures, refund the address attempt."""
        acct = attempt.account
        self.local.clear(acct)  # failures counted during an outage are forgiven too
        if attempt.local:
            self.local.refund(attempt.address_window)
        client = self._redis(client)
        if client is None:
            return
        try:
            pipe = client.pipeline(transaction=False)
            pipe.delete(acct)
            if not attempt.local:
                pipe.eval(REFUND_SCRIPT, 1, attempt.address_window)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed(client, exc)
