"""The sign-in limits against a live web process, from real client addresses: HTTP clients
bound to different 127.0.0.x source addresses, so the server sees each as its own client.

A private stack (tests/livestack.py: its own Redis, database and web) with small limits, so
the Redis outage at the end touches nobody else.
"""
from __future__ import annotations

import uuid

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests import factories
from tests.livestack import LiveStack

pytestmark = pytest.mark.stack
ACCOUNT_FREE, ADDRESS_LIMIT = 3, 4
PASSWORD = "correct-horse-battery"


class SourceAddress(HTTPAdapter):
    """Connections from one local address (any of 127.0.0.0/8 reaches a server on
    127.0.0.1), so the server sees that address as the client's."""

    def __init__(self, address: str):
        """Bind to `address`, any port."""
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        """urllib3 binds each new connection to the source address."""
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    """An HTTP client whose connections come from `address`."""
    http = requests.Session()
    http.mount("http://", SourceAddress(address))
    return http


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Web on a private Redis with small limits: 3 free failures per account (then 30 s,
    60 s, ...), 4 failures per address (per day, the testing window)."""
    stack = LiveStack(tmp_path_factory.mktemp("limits"))
    stack.env.update(LOGIN_ACCOUNT_FREE=str(ACCOUNT_FREE), LOGIN_ACCOUNT_DELAY="30",
                     LOGIN_RATE_LIMIT=str(ADDRESS_LIMIT))
    stack.start("web")
    yield stack
    stack.close()


def account(live) -> str:
    """A new account's email (password PASSWORD)."""
    email = f"limits-{uuid.uuid4().hex[:10]}@example.test"
    with live.session() as s:
        factories.user(s, "viewer", email=email)
    return email


def token(live, address: str, email: str, password: str = "wrong password") -> requests.Response:
    """One token request from `address`."""
    return client_at(address).post(live.url + "/api/v1/auth/token", timeout=10,
                                   json={"email": email, "password": password})


def test_the_server_sees_each_bound_address(live):
    """The setup works: each client's own address is what the server counts (an address at
    its limit does not limit the next one)."""
    for host in (11, 12):
        codes = [token(live, f"127.0.0.{host}", f"probe{i}@example.test").status_code
                 for i in range(ADDRESS_LIMIT + 1)]
        assert codes == [401] * ADDRESS_LIMIT + [429], (host, codes)


def test_an_account_is_limited_across_addresses(live):
    """Failures for one email from ever new addresses: after the free ones, any address
    waits (429 with the error shape and Retry-After), even with the right password."""
    email = account(live)
    codes = [token(live, f"127.0.1.{i}", email).status_code for i in range(1, ACCOUNT_FREE + 2)]
    assert codes == [401] * ACCOUNT_FREE + [429]
    r = token(live, "127.0.1.200", email, PASSWORD)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    other = account(live)
    assert token(live, "127.0.1.201", other, PASSWORD).status_code == 200


def test_an_address_is_limited_across_accounts(live):
    """Failures from one address, each for another email: the address waits, for every
    email, even a right password; the same account signs in from another address; the
    sign-in form is limited too."""
    email = account(live)
    sprayer = "127.0.2.1"
    codes = [token(live, sprayer, f"spray{i}-{uuid.uuid4().hex[:6]}@example.test").status_code
             for i in range(ADDRESS_LIMIT + 1)]
    assert codes == [401] * ADDRESS_LIMIT + [429]
    r = token(live, sprayer, email, PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    form = client_at(sprayer)
    page = form.get(live.url + "/login", timeout=10)
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = form.post(live.url + "/login", timeout=10, allow_redirects=False,
                  data={"email": email, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429 and "Too many sign-in attempts" in r.text
    assert token(live, "127.0.2.2", email, PASSWORD).status_code == 200


def test_with_redis_down_the_web_process_still_limits(live):
    """Redis killed: sign-in still works, and both limits are kept in the web process
    (never lifted). Last in the module: Redis comes back empty."""
    live.stop_redis()
    try:
        email = account(live)
        assert token(live, "127.0.3.1", email, PASSWORD).status_code == 200
        codes = [token(live, "127.0.3.2", f"down{i}@example.test").status_code
                 for i in range(ADDRESS_LIMIT + 1)]
        assert codes == [401] * ADDRESS_LIMIT + [429]
        codes = [token(live, f"127.0.4.{i}", email).status_code
                 for i in range(1, ACCOUNT_FREE + 2)]
        assert codes == [401] * ACCOUNT_FREE + [429]
    finally:
        live.start_redis()
