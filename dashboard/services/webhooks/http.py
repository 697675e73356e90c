"""The HTTP side of a send: one pooled client per task, that checks where it connected.

requests with a connection pool per endpoint host (keep-alive across a batch), no proxies
from the environment, no redirects (a 3xx is not a 2xx: the receiver must answer itself),
and a check after each connect that the peer's address is allowed (urls.address_allowed), so
a host name that resolves somewhere private is refused before a byte of the message leaves.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .urls import address_allowed

USER_AGENT = "QuantifyNotify-Webhooks/1.0"
ERROR_BODY = 300  # characters of a non-2xx answer kept with the attempt
MAX_ANSWER = 64 * 1024  # bytes of an answer read before the connection is dropped


class AddressRefused(requests.ConnectionError):
    """The connection reached an address the rules do not allow."""


def _guarded(base, allow_private: bool):
    """A connection class that refuses a peer the rules do not allow."""

    class Guarded(base):
        """Checks the peer address right after connecting."""

        def connect(self):
            """Connect, then refuse a disallowed peer before sending anything."""
            super().connect()
            peer = self.sock.getpeername()[0]
            if not address_allowed(peer, allow_private=allow_private):
                self.close()
                raise AddressRefused(f"{peer} is a private or local address")

    return Guarded


class GuardedAdapter(HTTPAdapter):
    """An adapter whose pools use the guarded connections."""

    def __init__(self, *, allow_private: bool, pool_size: int):
        """`pool_size` connections kept per host (one per concurrent request)."""
        self.allow_private = allow_private
        super().__init__(pool_connections=4, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        """Pools whose connections are guarded."""
        super().init_poolmanager(*args, **kwargs)
        http = type("GuardedHTTPPool", (HTTPConnectionPool,),
                    {"ConnectionCls": _guarded(HTTPConnection, self.allow_private)})
        https = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                     {"ConnectionCls": _guarded(HTTPSConnection, self.allow_private)})
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}


_clients: dict[tuple, requests.Session] = {}


def shared_client(*, allow_private: bool, pool_size: int) -> requests.Session:
    """This process's client for these rules: kept across batches, so a worker sending an
    endpoint's backlog reuses its connections (one per concurrent request) instead of
    opening them again for every batch (measured: twice the rate to a local receiver)."""
    key = (os.getpid(), allow_private, pool_size)
    session = _clients.get(key)
    if session is None:
        session = _clients[key] = client(allow_private=allow_private, pool_size=pool_size)
    return session


def client(*, allow_private: bool, pool_size: int) -> requests.Session:
    """A new session with the guarded adapter."""
    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY, no .netrc: the URL is the URL
    adapter = GuardedAdapter(allow_private=allow_private, pool_size=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclass
class Answer:
    """What one request got: a status code, or an error with no answer; and how long."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def post(session: requests.Session, url: str, body: str, headers: dict, timeout: float
         ) -> Answer:
    """POST the body; never raises for what the network or the receiver does."""
    started = time.monotonic()
    try:
        with session.post(url, data=body.encode(), headers=headers, timeout=(timeout, timeout),
                          allow_redirects=False, stream=True) as response:
            text = _read_some(response)
            error = None
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}: {text[:ERROR_BODY]}".strip()
            return Answer(response.status_code, error, _ms(started))
    except requests.Timeout:
        return Answer(None, f"No answer within {timeout:g} s.", _ms(started))
    except requests.RequestException as exc:
        return Answer(None, f"{type(exc).__name__}: {_reason(exc)}", _ms(started))


def _read_some(response) -> str:
    """The answer's body, read to its end when it is short (so the connection goes back to
    the pool for the next message), given up after MAX_ANSWER bytes (the connection is then
    closed: a receiver does not get to stream at us)."""
    chunks, size = [], 0
    for chunk in response.iter_content(8192):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            break
    return b"".join(chunks)[:ERROR_BODY].decode(errors="replace")


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests error, short."""
    reason = exc
    while reason.__context__ is not None and reason is not reason.__context__:
        reason = reason.__context__
    return str(reason or exc)[:300]


def _ms(started: float) -> int:
    """Milliseconds since `started` (monotonic)."""
    return int((time.monotonic() - started) * 1000)
