"""Sessions and accounts against the live stack, with two web processes and the real
python-socketio client: signing out, disabling, revoking and setting a password close the
affected sockets at once on every web process (not at the 30 s sweep), and nothing else's;
copied cookies stop working; the sign-in takes as long for unknown emails as for known ones.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time

import pytest
import requests

from dashboard.cli.redis_server import free_port
from dashboard.models import User
from dashboard.models.user import hash_password
from tests import factories
from tests.livestack import Recorder, init_publisher, notify, unique_email
from tests.stack import ROOT
from tests.test_sockets import refused, resident_of_new_wallet, staff

pytestmark = pytest.mark.stack
WITHIN = 1.0  # seconds: "at once"


@pytest.fixture(scope="module")
def second_web(stack):
    """Another web process of the stack (same database, Redis and channel), as a second
    gunicorn worker or host would be; its URL."""
    port = free_port()
    log = open(stack.workdir / f"web-{port}.log", "ab")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen([sys.executable, "run.py", "web"], cwd=ROOT,
                            env={**stack.env, "PORT": str(port)}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/login", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
        assert proc.poll() is None, "the second web process died"
    yield url
    proc.terminate()
    proc.wait(15)


@pytest.fixture
def clients():
    """Recorders made by a test, closed after it."""
    made: list[Recorder] = []
    yield made
    for client in made:
        client.close()


class Browser:
    """A browser signed in through the real form on one web process."""

    def __init__(self, base_url: str, email: str, password: str = "correct-horse-battery"):
        """Sign in; keep the cookie and the CSRF token of the landing page."""
        self.base = base_url
        self.http = requests.Session()
        page = self.http.get(base_url + "/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = self.http.post(base_url + "/login", timeout=10, data={
            "email": email, "password": password, "csrf_token": csrf})
        assert r.status_code == 200 and "/login" not in r.url, (r.status_code, r.url)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)

    @property
    def cookie(self) -> str:
        """The Cookie header (what a thief would copy)."""
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def post(self, path: str, **data) -> requests.Response:
        """A form post with the CSRF token, redirects not followed."""
        return self.http.post(self.base + path, data={"csrf_token": self.csrf, **data},
                              timeout=10, allow_redirects=False)


def connect(clients, url: str, **kwargs) -> Recorder:
    """A connected Recorder (closed after the test) that has had its unread count."""
    client = Recorder(url, **kwargs)
    clients.append(client)
    client.connect()
    client.wait(lambda c: c.of("unread_count"))
    return client


def closed_within(sockets, started: float, seconds: float = WITHIN) -> None:
    """Every socket got a server-side disconnect within `seconds` of `started`."""
    for client in sockets:
        left = max(0.0, started + seconds - time.monotonic())
        client.wait(lambda c: c.disconnects, timeout=left)
        assert "server" in client.disconnects[0], client.disconnects
    elapsed = time.monotonic() - started
    print(f"{len(sockets)} socket(s) closed {elapsed * 1000:.0f} ms after the change")  # -s
    assert elapsed <= seconds + 0.05


def still_open(sockets, stack, wallet_id: int) -> None:
    """The sockets are connected and still receive their user's events."""
    ids = notify(stack, wallet_id, 1, title="Still here")
    for client in sockets:
        client.wait(lambda c, ids=ids: set(ids) <= set(c.ids()), timeout=10)
        assert client.sio.connected and not client.disconnects


def signed_out(base_url: str, cookie: str) -> bool:
    """A copied cookie no longer opens the resident's page."""
    r = requests.get(base_url + "/me/", headers={"Cookie": cookie}, timeout=10,
                     allow_redirects=False)
    return r.status_code == 302 and "/login" in r.headers["Location"]


def test_signing_out_closes_that_sessions_sockets_on_every_web_but_no_others(
        stack, second_web, clients):
    """Session A has sockets on both web processes, session B and an API token one each:
    signing out of A closes A's within a second, everywhere; B's and the token's stay and
    keep receiving; A's copied cookie opens neither pages nor sockets."""
    init_publisher(stack)
    wallet, _, email = resident_of_new_wallet(stack)
    a, b = Browser(stack.url, email), Browser(second_web, email)
    a_sockets = [connect(clients, stack.url, cookie=a.cookie),
                 connect(clients, second_web, cookie=a.cookie)]
    others = [connect(clients, stack.url, cookie=b.cookie),
              connect(clients, second_web, token=stack.token(email))]
    copied = a.cookie
    assert not signed_out(second_web, copied)
    assert a.post("/logout").status_code == 302
    closed_within(a_sockets, time.monotonic())
    time.sleep(0.5)
    still_open(others, stack, wallet)
    assert signed_out(stack.url, copied) and signed_out(second_web, copied)
    assert not signed_out(second_web, b.cookie)
    assert "unauthorized" in refused(stack, cookie=copied)


def test_disabling_on_the_users_page_closes_every_socket_of_the_account_at_once(
        stack, second_web, clients):
    """An operator disables a viewer with sockets on both web processes (cookie and token):
    all of them close within a second of the answer, another viewer's stay, and the
    viewer can no longer sign in or connect."""
    victim_email, bystander_email = staff(stack, "viewer"), staff(stack, "viewer")
    with stack.session() as s:
        victim_id = s.query(User).filter_by(email=victim_email).one().id
    victim = Browser(stack.url, victim_email)
    victim_sockets = [connect(clients, stack.url, cookie=victim.cookie),
                      connect(clients, second_web, token=stack.token(victim_email)),
                      connect(clients, second_web, cookie=Browser(second_web,
                                                                  victim_email).cookie)]
    bystander = connect(clients, second_web, token=stack.token(bystander_email))
    operator = Browser(stack.url, staff(stack, "operator"))
    response = operator.post(f"/users/{victim_id}/disable")
    started = time.monotonic()
    assert response.status_code == 302, response.text[:300]
    closed_within(victim_sockets, started)
    assert bystander.sio.connected and not bystander.disconnects
    assert "unauthorized" in refused(stack, cookie=victim.cookie)
    r = requests.post(stack.url + "/api/v1/auth/token", timeout=10, json={
        "email": victim_email, "password": "correct-horse-battery"})
    assert r.status_code == 401


def run_cli(stack, *args: str) -> tuple[dict, float]:
    """`python run.py user ...` against the stack; (its JSON output, when it finished)."""
    result = subprocess.run([sys.executable, "run.py", "user", *args], cwd=ROOT,
                            env=stack.env, capture_output=True, text=True, timeout=120)
    finished = time.monotonic()
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), finished


def test_the_cli_revokes_tokens_and_sessions_and_closes_the_sockets_at_once(
        stack, second_web, clients):
    """`run.py user revoke-tokens`: the account's sockets on both web processes are closed
    by the time the command has finished (within a second), its cookie and token stop
    working, and the account can sign in again."""
    wallet, _, email = resident_of_new_wallet(stack)
    browser = Browser(second_web, email)
    token = stack.token(email)
    sockets = [connect(clients, stack.url, token=token),
               connect(clients, second_web, cookie=browser.cookie)]
    out, finished = run_cli(stack, "revoke-tokens", "--email", email.upper())
    assert out["action"] == "revoked" and out["sessions_ended"] == 1
    assert out["sockets"] == "closed"
    closed_within(sockets, finished)
    assert signed_out(stack.url, browser.cookie)
    assert stack.api("GET", "/wallets", token).status_code == 401
    Browser(stack.url, email)  # signing in again works


def test_the_cli_sets_a_password_and_ends_every_session(stack, second_web, clients):
    """`run.py user set-password --password`: the rules apply (a weak one is refused and
    changes nothing); a good one ends the account's sessions (a copied cookie included)
    and closes its sockets; the new password signs in, the old one does not."""
    _, _, email = resident_of_new_wallet(stack)
    browser = Browser(stack.url, email)
    weak = subprocess.run([sys.executable, "run.py", "user", "set-password", "--email", email,
                           "--password", "qwertyuiop"], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=120)
    assert weak.returncode != 0 and "easy to guess" in weak.stderr
    assert not signed_out(stack.url, browser.cookie)
    socket = connect(clients, second_web, cookie=browser.cookie)
    out, finished = run_cli(stack, "set-password", "--email", email,
                            "--password", "a fresh long passphrase")
    assert out["action"] == "password_set" and out["sockets"] == "closed"
    closed_within([socket], finished)
    assert signed_out(second_web, browser.cookie)
    assert requests.post(stack.url + "/api/v1/auth/token", timeout=10, json={
        "email": email, "password": "correct-horse-battery"}).status_code == 401
    Browser(stack.url, email, "a fresh long passphrase")


def test_the_cli_disables_and_enables(stack, clients):
    """`run.py user disable` then `enable`: disabled, the account cannot sign in and its
    socket is closed at once; enabled, it signs in again (old sessions stay ended)."""
    _, _, email = resident_of_new_wallet(stack)
    browser = Browser(stack.url, email)
    socket = connect(clients, stack.url, cookie=browser.cookie)
    out, finished = run_cli(stack, "disable", "--email", email)
    assert out["action"] == "disabled"
    closed_within([socket], finished)
    assert requests.post(stack.url + "/api/v1/auth/token", timeout=10, json={
        "email": email, "password": "correct-horse-battery"}).status_code == 401
    out, _ = run_cli(stack, "enable", "--email", email)
    assert out == {"id": out["id"], "email": email, "action": "enabled", "sessions_ended": 0}
    assert signed_out(stack.url, browser.cookie)
    Browser(stack.url, email)
    unknown = subprocess.run([sys.executable, "run.py", "user", "disable", "--email",
                              "nobody-at-all@example.test"], cwd=ROOT, env=stack.env,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode != 0 and "no user with email" in unknown.stderr


# -- the same work whether or not the email exists --------------------------------------------

def timed(send) -> float:
    """Seconds one request takes."""
    started = time.perf_counter()
    send()
    return time.perf_counter() - started


def test_known_and_unknown_emails_take_the_same_time(stack):
    """Through the real endpoints of a web process: the token endpoint and the sign-in form
    answer a wrong password for an account (real scrypt hash) and any password for an email
    without one in the same time, medians of 15 interleaved tries within 20%."""
    known = unique_email("timed")
    with stack.session() as s:
        user = factories.user(s, "viewer", email=known)
        user.password_hash = hash_password("the real password here")
    unknown = unique_email("nobody")
    form = requests.Session()
    page = form.get(stack.url + "/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def token(email):
        """One token request with a wrong password."""
        r = requests.post(stack.url + "/api/v1/auth/token", timeout=10,
                          json={"email": email, "password": "not the password"})
        assert r.status_code == 401

    def sign_in(email):
        """One sign-in form post with a wrong password."""
        r = form.post(stack.url + "/login", timeout=10, allow_redirects=False, data={
            "email": email, "password": "not the password", "csrf_token": csrf})
        assert r.status_code == 401

    for send in (token, sign_in):
        send(known), send(unknown)  # warm up: connections, the dummy hash, caches
        times = {known: [], unknown: []}
        for _ in range(15):
            for email in (known, unknown):
                times[email].append(timed(lambda e=email, s=send: s(e)))
        k, u = statistics.median(times[known]), statistics.median(times[unknown])
        print(f"{send.__name__}: known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms")  # -s
        assert max(k, u) / min(k, u) <= 1.2, (send.__name__, round(k * 1000, 1),
                                             round(u * 1000, 1))
        assert min(k, u) > 0.005, "no password check at all?"  # scrypt takes tens of ms
