"""Sign-in: pages, passwords, roles, CSRF, the rate limit and API tokens."""
import re

import pytest

from dashboard.models import User
from tests.conftest import Auth


def test_login_page_has_the_named_fields(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert "Sign in</button>" in html


def test_good_password_signs_in_and_lands_on_the_dashboard(auth, make):
    make.user("operator", email="op@example.test")
    response = auth.login("op@example.test")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert auth.client.get("/").status_code == 200


def test_resident_lands_on_their_wallet(auth, make):
    w = make.wallet("80.00")
    make.resident(w, email="res@example.test")
    response = auth.login("res@example.test")
    assert response.headers["Location"] == "/me/"
    assert b"Unit " in auth.client.get("/me/").data


def test_bad_password_is_refused_with_a_message(auth, make):
    make.user("operator", email="op@example.test")
    response = auth.login("op@example.test", "wrong-password")
    assert response.status_code == 401
    assert b"do not match" in response.data
    assert auth.client.get("/").status_code == 302  # still signed out


def test_passwords_are_stored_hashed(db, make):
    u = make.user("operator", email="hash@example.test", password="s3cret-passphrase")
    assert "s3cret" not in u.password_hash
    u.set_password("another-passphrase")
    assert u.password_hash.startswith("scrypt:")
    assert u.check_password("another-passphrase") and not u.check_password("s3cret-passphrase")


def test_login_without_csrf_token_is_refused(client, make):
    make.user("operator", email="op@example.test")
    response = client.post("/login", data={"email": "op@example.test",
                                           "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert b"security token" in response.data


def test_htmx_and_api_session_requests_need_csrf(auth, make):
    make.user("operator", email="op@example.test")
    auth.login("op@example.test")
    refused = auth.client.post("/api/v1/notifications/read-all")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    allowed = auth.client.post("/api/v1/notifications/read-all",
                               headers={"X-CSRFToken": auth.csrf})
    assert allowed.status_code == 200


def test_login_rate_limit(app, auth, make):
    app.config["LOGIN_RATE_LIMIT"] = 3
    make.user("operator", email="limited@example.test")
    codes = [auth.login("limited@example.test", "bad").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # Even the right password waits out the window.
    assert auth.login("limited@example.test").status_code == 429


def test_token_rate_limit(app, client, make):
    app.config["LOGIN_RATE_LIMIT"] = 2
    make.user("operator", email="tok@example.test")
    codes = [client.post("/api/v1/auth/token", json={"email": "tok@example.test",
                                                     "password": "x"}).status_code
             for _ in range(3)]
    assert codes == [401, 401, 429]


def test_token_round_trip_and_roles(client, make):
    make.user("viewer", email="view@example.test")
    response = client.post("/api/v1/auth/token", json={"email": "VIEW@example.test ",
                                                       "password": "correct-horse-battery"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["role"] == "viewer" and body["user"]["email"] == "view@example.test"
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/wallets", headers=headers).status_code == 200
    # A viewer may look but not act.
    assert client.post("/api/v1/scans/check_low_credit_wallets/run",
                       headers=headers).status_code == 403


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic abc"])
def test_bad_tokens_are_401(client, header):
    response = client.get("/api/v1/wallets", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_revoked_token_stops_working(client, db, make):
    u = make.user("operator", email="rev@example.test")
    db.commit()
    token = client.post("/api/v1/auth/token", json={"email": "rev@example.test",
                                                    "password": "correct-horse-battery"}
                        ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/wallets", headers=headers).status_code == 200
    db.get(User, u.id).token_version += 1
    db.commit()
    assert client.get("/api/v1/wallets", headers=headers).status_code == 401


def test_token_body_errors(client):
    """Not JSON: 415; not a JSON object: 400; a field missing: 422 naming it."""
    assert client.post("/api/v1/auth/token", data="x").status_code == 415
    assert client.post("/api/v1/auth/token", data="x",
                       content_type="application/json").status_code == 400
    response = client.post("/api/v1/auth/token", json={"email": "a@b.c"})
    assert response.status_code == 422
    assert "password" in response.get_json()["error"]["fields"]


def test_disabled_user_cannot_sign_in(client, make):
    u = make.user("operator", email="off@example.test")
    u.active = False
    response = client.post("/api/v1/auth/token", json={"email": "off@example.test",
                                                       "password": "correct-horse-battery"})
    assert response.status_code == 401


def test_sign_out_needs_post_and_csrf(auth, make):
    make.user("operator", email="op@example.test")
    auth.login("op@example.test")
    assert auth.client.get("/logout").status_code == 405
    auth.client.post("/logout", data={"csrf_token": auth.csrf})
    assert auth.client.get("/").status_code == 302


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "HX-Request" in response.headers["Vary"]




def test_revoking_ends_browser_sessions_too(auth, db, make):
    u = make.user("operator", email="sess@example.test")
    auth.login("sess@example.test")
    assert auth.client.get("/").status_code == 200
    db.get(User, u.id).token_version += 1
    db.commit()
    assert auth.client.get("/").status_code == 302  # back to sign-in


# -- sessions that end -----------------------------------------------------------------------

class Clock:
    """An injectable clock (app.config["CLOCK"]): time moves only when the test says so."""

    def __init__(self):
        """Starts at the real now."""
        from dashboard.models import utcnow

        self.now = utcnow()

    def __call__(self):
        """The current fake time."""
        return self.now

    def advance(self, **delta):
        """Move time forward (timedelta keywords)."""
        from datetime import timedelta

        self.now += timedelta(**delta)


def copy_of(app, browser) -> object:
    """Another client holding a copy of the browser's session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", browser.client.get_cookie("session").value)
    return thief


def signed_out(response) -> bool:
    """A page request answered with the way to the sign-in page."""
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_copied_cookie_fails_after_sign_out(app, auth, make):
    """The copy works while the session lives; after sign-out neither the browser nor the
    copy is signed in, for pages and for the session API alike."""
    make.user("operator", email="copied@example.test")
    auth.login("copied@example.test")
    thief = copy_of(app, auth)
    assert thief.get("/").status_code == 200
    assert auth.client.post("/logout", data={"csrf_token": auth.csrf}).status_code == 302
    assert signed_out(thief.get("/")) and signed_out(auth.client.get("/"))
    assert thief.get("/api/v1/wallets").status_code == 401


def test_a_copied_cookie_fails_after_a_password_change(app, auth, make):
    """An operator sets a resident's password on the Users page: the resident's session
    and its copy end, as does the resident's API token; the new password works."""
    w = make.wallet("80.00")
    resident = make.resident(w, email="pw-change@example.test")
    make.user("operator", email="pw-op@example.test")
    victim = Auth(app.test_client())
    victim.login("pw-change@example.test")
    thief = copy_of(app, victim)
    token = victim.token("pw-change@example.test")
    assert thief.get("/me/").status_code == 200
    auth.login("pw-op@example.test")
    r = auth.client.post(f"/users/{resident.id}/password", data={
        "csrf_token": auth.csrf, "password": "a brand new passphrase",
        "confirm": "a brand new passphrase"})
    assert r.status_code == 302
    assert signed_out(thief.get("/me/")) and signed_out(victim.client.get("/me/"))
    assert app.test_client().get("/api/v1/wallets", headers=token).status_code == 401
    assert Auth(app.test_client()).login("pw-change@example.test").status_code == 401
    assert Auth(app.test_client()).login("pw-change@example.test",
                                         "a brand new passphrase").status_code == 302


def test_signing_out_ends_only_that_session(app, make):
    """Two browsers of one account: signing out of one leaves the other signed in."""
    make.user("viewer", email="two-tabs@example.test")
    first, second = Auth(app.test_client()), Auth(app.test_client())
    first.login("two-tabs@example.test")
    second.login("two-tabs@example.test")
    first.client.post("/logout", data={"csrf_token": first.csrf})
    assert signed_out(first.client.get("/")) and second.client.get("/").status_code == 200


def test_an_idle_session_expires(app, auth, db, make):
    """Used every 29 minutes a session lives on; 31 minutes unused and it is over (and its
    row says why)."""
    from dashboard.models import UserSession

    clock = Clock()
    app.config.update(CLOCK=clock, SESSION_IDLE_SECONDS=1800)
    make.user("operator", email="idle@example.test")
    auth.login("idle@example.test")
    for _ in range(3):
        clock.advance(minutes=29)
        assert auth.client.get("/").status_code == 200
    thief = copy_of(app, auth)
    clock.advance(minutes=31)
    assert signed_out(auth.client.get("/")) and signed_out(thief.get("/"))
    db.expire_all()
    assert db.query(UserSession).one().end_reason == "expired_idle"


def test_a_session_ends_at_its_absolute_lifetime_however_busy(app, auth, db, make):
    """A session used every 20 minutes still ends 12 hours after sign-in."""
    from dashboard.models import UserSession

    clock = Clock()
    app.config.update(CLOCK=clock, SESSION_IDLE_SECONDS=1800, SESSION_ABSOLUTE_SECONDS=43200)
    make.user("operator", email="busy@example.test")
    auth.login("busy@example.test")
    # The wallet list, not the overview: the overview pings the workers (none run here)
    # and waits its timeout each time, which would be most of this test's time.
    for _ in range(35):  # 11 h 40 min
        clock.advance(minutes=20)
        assert auth.client.get("/wallets").status_code == 200
    clock.advance(minutes=20)
    assert signed_out(auth.client.get("/wallets"))
    db.expire_all()
    assert db.query(UserSession).one().end_reason == "expired_absolute"
    assert auth.login("busy@example.test").status_code == 302  # signing in again works


def test_the_cookie_holds_a_token_the_database_keeps_only_hashed(app, auth, db, make):
    """What the cookie names is random and stored as its SHA-256, so a copy of the table
    signs nobody in."""
    import hashlib

    from flask.sessions import SecureCookieSessionInterface

    from dashboard.models import UserSession

    make.user("operator", email="hashed@example.test")
    auth.login("hashed@example.test")
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    token = serializer.loads(auth.client.get_cookie("session").value)["login"]
    row = db.query(UserSession).one()
    assert len(token) >= 40 and token not in row.token_hash
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_the_sweep_disconnects_sockets_of_ended_or_expired_sessions(app, auth, db, make):
    """revalidate (every 30 s, the safety net) also drops sockets whose sign-in session has
    ended or expired, and keeps the others."""
    from datetime import timedelta

    from dashboard import sockets
    from dashboard.models import UserSession, utcnow
    from dashboard.services.accounts.sessions import Lifetimes
    from tests.test_sockets import FakeServer

    user = make.user("operator", email="sweep-login@example.test")
    for _ in range(3):
        Auth(app.test_client()).login("sweep-login@example.test")
    live, ended, old = [s.id for s in db.query(UserSession).order_by(UserSession.id)]
    db.get(UserSession, ended).ended_at = utcnow()
    db.get(UserSession, old).created_at = utcnow() - timedelta(hours=13)
    db.commit()
    saved = {"user_id": user.id, "role": "operator", "version": user.token_version}
    server = FakeServer({"live": {**saved, "login": live}, "ended": {**saved, "login": ended},
                         "old": {**saved, "login": old}, "token": {**saved, "login": None}})
    lifetimes = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    assert sockets.revalidate(server, lifetimes) == 2
    assert sorted(server.dropped) == ["ended", "old"]
    db.expire_all()
    assert db.get(UserSession, old).end_reason == "expired_absolute"


# -- the same answer whether or not the email exists -----------------------------------------

def test_unknown_emails_wrong_passwords_and_disabled_accounts_get_one_answer(app, make):
    """Form and token endpoint: the same status and the same words for an email without an
    account, a wrong password and a disabled account."""
    make.user("operator", email="exists@example.test")
    off = make.user("operator", email="disabled@example.test")
    from dashboard.db import Session

    Session.get(User, off.id).active = False
    Session.commit()
    cases = [("nobody@example.test", "correct-horse-battery"),
             ("exists@example.test", "wrong-password"),
             ("disabled@example.test", "correct-horse-battery")]
    api = [app.test_client().post("/api/v1/auth/token", json={"email": e, "password": p})
           for e, p in cases]
    assert {r.status_code for r in api} == {401}
    assert len({r.get_data() for r in api}) == 1
    pages = [Auth(app.test_client()).login(e, p) for e, p in cases]
    assert {r.status_code for r in pages} == {401}
    messages = {re.search(r'role="alert">([^<]+)<', r.get_data(as_text=True)).group(1)
                for r in pages}
    assert messages == {"That email and password do not match an account."}


def test_an_unknown_email_checks_a_dummy_hash_of_the_same_algorithm():
    """The dummy hash is made as real passwords are: same method and cost parameters, so an
    unknown email costs one real password check."""
    from dashboard.models.user import hash_password
    from dashboard.services.accounts.users import dummy_hash

    assert dummy_hash().split("$")[0] == hash_password("anything at all").split("$")[0]
    assert dummy_hash().startswith("scrypt:")


# -- sign-in limits ----------------------------------------------------------------------------

def from_address(app, address: str):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def token_status(client, email, password="wrong-password") -> int:
    """The token endpoint's status for one attempt."""
    return client.post("/api/v1/auth/token", json={"email": email, "password": password}
                       ).status_code


def test_the_account_limit_holds_across_addresses(app, make):
    """After LOGIN_ACCOUNT_FREE failures from different addresses, the account waits, from
    any address, even with the right password; other accounts are not affected. The 429
    has the API's error shape and a Retry-After."""
    app.config.update(LOGIN_ACCOUNT_FREE=3, LOGIN_ACCOUNT_DELAY=60.0)
    make.user("operator", email="spread@example.test")
    make.user("operator", email="bystander@example.test")
    codes = [token_status(from_address(app, f"10.1.0.{i}"), "spread@example.test")
             for i in range(1, 5)]
    assert codes == [401, 401, 401, 429]
    r = from_address(app, "10.1.0.99").post("/api/v1/auth/token", json={
        "email": "SPREAD@example.test ", "password": "correct-horse-battery"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    page = Auth(from_address(app, "10.1.0.98")).login("spread@example.test")
    assert page.status_code == 429 and "Too many sign-in attempts" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) >= 1
    assert token_status(from_address(app, "10.1.0.1"), "bystander@example.test",
                        "correct-horse-battery") == 200


def test_unknown_emails_are_limited_like_known_ones(app):
    """The account limit counts emails, not accounts: it tells nothing about which exist."""
    app.config.update(LOGIN_ACCOUNT_FREE=2, LOGIN_ACCOUNT_DELAY=60.0)
    codes = [token_status(from_address(app, f"10.2.0.{i}"), "no-such-account@example.test")
             for i in range(1, 4)]
    assert codes == [401, 401, 429]


def test_the_address_limit_holds_across_accounts(app, make):
    """LOGIN_RATE_LIMIT failures from one address, each for another email: the address
    waits, even for a right password; another address signs the same account in."""
    app.config.update(LOGIN_RATE_LIMIT=4)
    make.user("viewer", email="sprayed@example.test")
    sprayer = from_address(app, "10.3.0.1")
    codes = [token_status(sprayer, f"guess{i}@example.test") for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    assert token_status(sprayer, "sprayed@example.test", "correct-horse-battery") == 429
    r = sprayer.post("/api/v1/auth/token", json={"email": "x@example.test", "password": "x"})
    assert r.get_json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0
    assert token_status(from_address(app, "10.3.0.2"), "sprayed@example.test",
                        "correct-horse-battery") == 200


def test_good_sign_ins_do_not_use_up_a_shared_address(app, make):
    """Residents behind one address (an estate's Wi-Fi) signing in successfully never reach
    the address limit: a success gives its attempt back."""
    app.config.update(LOGIN_RATE_LIMIT=3)
    make.user("viewer", email="shared@example.test")
    wifi = from_address(app, "10.4.0.1")
    assert [token_status(wifi, "shared@example.test", "correct-horse-battery")
            for _ in range(10)] == [200] * 10
    assert [token_status(wifi, "shared@example.test") for _ in range(4)] == [401] * 3 + [429]


def test_ipv6_clients_are_limited_by_their_64_network(app):
    """One host is given a whole IPv6 /64: the address limit counts the network."""
    app.config.update(LOGIN_RATE_LIMIT=2)
    codes = [token_status(from_address(app, f"2001:db8:1:2::{i:x}"), f"v6-{i}@example.test")
             for i in range(1, 4)]
    assert codes == [401, 401, 429]
    assert token_status(from_address(app, "2001:db8:1:3::1"), "v6-x@example.test") == 401


def test_with_redis_down_the_limits_still_hold_in_the_process(app, make):
    """Redis unreachable: sign-in still works, and both limits are counted in the process
    instead (never lifted)."""
    from dashboard.cli.redis_server import free_port

    app.config.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", LOGIN_RATE_LIMIT=3,
                      LOGIN_ACCOUNT_FREE=2, LOGIN_ACCOUNT_DELAY=60.0)
    make.user("viewer", email="offline@example.test")
    assert token_status(from_address(app, "10.5.0.9"), "offline@example.test",
                        "correct-horse-battery") == 200
    address = from_address(app, "10.5.0.1")
    assert [token_status(address, f"n{i}@example.test") for i in range(4)] == \
        [401, 401, 401, 429]
    assert [token_status(from_address(app, f"10.5.1.{i}"), "offline@example.test")
            for i in range(3)] == [401, 401, 429]


@pytest.mark.parametrize("store", ["redis", "local"])
def test_account_delays_double_with_each_failure_up_to_the_cap(redis_url, store):
    """After the free attempts each failure doubles the wait (1, 2, 4, 8 s ... capped), in
    Redis and in the process alike; time is passed in, not slept."""
    import uuid

    import redis

    from dashboard.services.accounts import LocalStore, Policy, SignInLimiter

    client = redis.Redis.from_url(redis_url) if store == "redis" else None
    limiter = SignInLimiter(LocalStore())
    policy = Policy(account_free=2, account_delay=1.0, account_max_delay=8.0,
                    address_limit=1000, scope=uuid.uuid4().hex)
    now, waits = 1_000_000.0, []

    def attempt(address="10.6.0.1"):
        """One attempt at the current time."""
        return limiter.attempt(client, "delays@example.test", address, policy, now=now)

    assert attempt().decision.allowed and attempt().decision.allowed  # the free ones
    for _ in range(5):
        refused = attempt("10.6.0.2")  # another address changes nothing
        assert not refused.decision.allowed and refused.decision.limit == "account"
        waits.append(refused.decision.retry_after)
        now += refused.decision.retry_after
        last = attempt()
        assert last.decision.allowed and last.local == (store == "local")
    assert waits == [1, 2, 4, 8, 8]
    assert not attempt().decision.allowed
    limiter.succeeded(client, last)  # a success clears the count
    assert attempt().decision.allowed and attempt().decision.allowed


def test_old_sessions_are_pruned_and_recent_ones_kept(app, db, make):
    """The daily retention deletes sessions that ended or began long ago (the table stays its
    working size) and keeps the others."""
    from datetime import timedelta

    from dashboard.models import UserSession, utcnow
    from dashboard.services.accounts import sessions as login_sessions

    make.user("viewer", email="prune@example.test")
    for _ in range(3):
        Auth(app.test_client()).login("prune@example.test")
    old_end, old_start, recent = db.query(UserSession).order_by(UserSession.id).all()
    now = utcnow()
    old_end.ended_at = now - timedelta(days=91)
    old_start.created_at = now - timedelta(days=100)
    db.commit()
    assert login_sessions.prune(db, now, days=90) == 2
    assert [s.id for s in db.query(UserSession)] == [recent.id]


def test_signing_in_starts_a_fresh_session(app, make):
    """Whatever the cookie held before sign-in (values planted by someone who handed the
    victim a cookie, another account's token) is gone after it: a new session, a new token."""
    make.user("viewer", email="fresh@example.test")
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
        planted["login"] = "attacker-chosen-token"
    browser = Auth(client)
    assert browser.login("fresh@example.test").status_code == 302
    with client.session_transaction() as now:
        assert "planted" not in now and now["login"] != "attacker-chosen-token"


def test_a_burst_of_parallel_guesses_gets_only_the_free_attempts(redis_url):
    """Twenty guesses at once for one account, and twenty at once from one address: each
    limit lets exactly its number through (every decision is one atomic Redis script)."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import redis

    from dashboard.services.accounts import LocalStore, Policy, SignInLimiter

    client = redis.Redis.from_url(redis_url)
    limiter = SignInLimiter(LocalStore())
    policy = Policy(account_free=3, account_delay=60.0, address_limit=5,
                    scope=uuid.uuid4().hex)
    with ThreadPoolExecutor(20) as pool:
        by_account = list(pool.map(lambda i: limiter.attempt(
            client, "burst@example.test", f"10.7.0.{i}", policy).decision.allowed, range(20)))
        by_address = list(pool.map(lambda i: limiter.attempt(
            client, f"burst{i}@example.test", "10.7.1.1", policy).decision.allowed, range(20)))
    assert sum(by_account) == 3 and sum(by_address) == 5
