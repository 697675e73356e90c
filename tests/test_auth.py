"""Sign-in: pages, passwords, roles, CSRF, the rate limit and API tokens."""
import pytest

from dashboard.models import User


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
