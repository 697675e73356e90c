"""The operators' Users page and the account actions behind it (services/accounts), and the
control message that closes an account's sockets on every web process."""
from __future__ import annotations

import json
import re

import pytest
import socketio

from dashboard.models import User, UserSession
from tests.conftest import Auth


@pytest.fixture
def operator(auth, make):
    """An operator signed in through the form."""
    user = make.user("operator", email="users-op@example.test")
    auth.login("users-op@example.test")
    auth.user = user
    return auth


def rows(html: str) -> list[str]:
    """The emails listed in the users table."""
    return re.findall(r'<td><a href="/users/\d+">([^<]+)</a>', html)


def test_operators_see_every_account_with_role_state_and_sessions(operator, make, db):
    """The list: emails, roles, states, open sessions; search by email or name, filter by
    role and state."""
    w = make.wallet("80.00")
    make.resident(w, email="thandi@example.test", name=("Thandi", "Nkosi"))
    off = make.user("viewer", email="gone-viewer@example.test")
    db.get(User, off.id).active = False
    db.commit()
    html = operator.client.get("/users").get_data(as_text=True)
    assert set(rows(html)) == {"users-op@example.test", "thandi@example.test",
                               "gone-viewer@example.test"}
    assert "Resident" in html and "disabled" in html
    assert rows(operator.client.get("/users?q=nkosi").get_data(as_text=True)) == \
        ["thandi@example.test"]
    assert rows(operator.client.get("/users?state=disabled").get_data(as_text=True)) == \
        ["gone-viewer@example.test"]
    assert rows(operator.client.get("/users?role=operator").get_data(as_text=True)) == \
        ["users-op@example.test"]
    assert rows(operator.client.get("/users?q=100%25_").get_data(as_text=True)) == []


def test_bad_filters_come_back_beside_their_fields(operator):
    """A role or state that does not exist, or a huge search: 422 with the field messages."""
    r = operator.client.get("/users?role=root&state=zombie&q=" + "x" * 150)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="users-role-error"' in html and 'id="users-state-error"' in html
    assert "at most 100" in html


def test_the_list_pages(operator, make):
    """50 accounts a page, in id order, with a Next page link that carries the filters."""
    for i in range(55):
        make.user("viewer", email=f"paged-{i:02d}@example.test")
    first = operator.client.get("/users?role=viewer").get_data(as_text=True)
    assert len(rows(first)) == 50
    after = re.search(r'href="(/users\?[^"]*after=\d+[^"]*)"', first).group(1)
    assert "role=viewer" in after
    second = operator.client.get(after.replace("&amp;", "&")).get_data(as_text=True)
    assert len(rows(second)) == 5 and not set(rows(first)) & set(rows(second))


def test_the_users_page_is_for_operators_only(app, make):
    """Viewers 403 (page and actions), residents 404, anonymous to sign-in; the navigation
    shows Users to operators only."""
    w = make.wallet("80.00")
    make.resident(w, email="nav-res@example.test")
    target = make.user("viewer", email="nav-target@example.test")
    make.user("viewer", email="nav-viewer@example.test")
    make.user("operator", email="nav-op@example.test")
    viewer, resident, op = (Auth(app.test_client()) for _ in range(3))
    viewer.login("nav-viewer@example.test")
    resident.login("nav-res@example.test")
    op.login("nav-op@example.test")
    assert viewer.client.get("/users").status_code == 403
    assert viewer.client.get(f"/users/{target.id}").status_code == 403
    assert viewer.client.post(f"/users/{target.id}/disable",
                              data={"csrf_token": viewer.csrf}).status_code == 403
    assert resident.client.get("/users").status_code == 404
    assert app.test_client().get("/users").status_code == 302
    assert ">Users</a>" not in viewer.client.get("/").get_data(as_text=True)
    assert ">Users</a>" in op.client.get("/").get_data(as_text=True)


def test_disable_and_enable_from_the_page(operator, make, db):
    """Disable: the account's sessions and tokens end and it cannot sign in; Enable: it can
    sign in again, its old session stays ended."""
    make.user("viewer", email="toggle@example.test")
    victim = Auth(operator.client.application.test_client())
    victim.login("toggle@example.test")
    token = victim.token("toggle@example.test")
    user_id = db.query(User).filter_by(email="toggle@example.test").one().id
    r = operator.client.post(f"/users/{user_id}/disable", data={"csrf_token": operator.csrf})
    assert r.status_code == 302 and r.headers["Location"] == f"/users/{user_id}"
    page = operator.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "toggle@example.test is disabled; 1 open session ended." in page
    assert victim.client.get("/").status_code == 302
    assert victim.client.get("/api/v1/wallets", headers=token).status_code == 401
    assert Auth(operator.client.application.test_client()).login(
        "toggle@example.test").status_code == 401
    db.expire_all()
    assert db.query(UserSession).filter_by(user_id=user_id).one().end_reason == "disabled"
    operator.client.post(f"/users/{user_id}/enable", data={"csrf_token": operator.csrf})
    assert victim.client.get("/").status_code == 302
    assert Auth(operator.client.application.test_client()).login(
        "toggle@example.test").status_code == 302


def test_an_operator_cannot_disable_themselves(operator, db):
    """Nobody would be left to enable them from the dashboard: refused with a message, and
    the page offers no Disable for one's own account."""
    r = operator.client.post(f"/users/{operator.user.id}/disable",
                             data={"csrf_token": operator.csrf})
    page = operator.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "You cannot disable your own account." in page
    assert 'action="/users/%d/disable"' % operator.user.id not in page
    db.expire_all()
    assert db.get(User, operator.user.id).active


def test_revoking_ends_every_session_and_token(operator, make, app):
    """Revoke sessions: both browsers and the API token of the account stop working; the
    account can sign in again."""
    make.user("viewer", email="revoked@example.test")
    browsers = [Auth(app.test_client()) for _ in range(2)]
    for b in browsers:
        b.login("revoked@example.test")
    token = browsers[0].token("revoked@example.test")
    user = Auth(app.test_client())
    user_id = app.test_client().post("/api/v1/auth/token", json={
        "email": "revoked@example.test", "password": "correct-horse-battery"}
    ).get_json()["user"]["id"]
    r = operator.client.post(f"/users/{user_id}/revoke", data={"csrf_token": operator.csrf})
    assert "2 ended" in operator.client.get(r.headers["Location"]).get_data(as_text=True)
    assert all(b.client.get("/").status_code == 302 for b in browsers)
    assert app.test_client().get("/api/v1/wallets", headers=token).status_code == 401
    assert user.login("revoked@example.test").status_code == 302


def test_revoking_ones_own_sessions_signs_out(operator):
    """An operator who revokes their own sessions is sent to sign in."""
    r = operator.client.post(f"/users/{operator.user.id}/revoke",
                             data={"csrf_token": operator.csrf})
    assert r.headers["Location"] == "/login"
    assert operator.client.get("/").status_code == 302


def test_set_password_applies_the_rules_and_both_fields_must_agree(operator, make):
    """Weak or mismatched passwords come back beside their fields with 422; nothing changes."""
    target = make.user("viewer", email="weak@example.test")
    for data, message in (({"password": "qwertyuiop", "confirm": "qwertyuiop"}, "easy to guess"),
                          ({"password": "a sound passphrase", "confirm": "another one"},
                           "The two passwords differ."),
                          ({"password": "", "confirm": ""}, "Enter the new password."),
                          ({"password": "weak@example.test", "confirm": "weak@example.test"},
                           "easy to guess")):
        r = operator.client.post(f"/users/{target.id}/password",
                                 data={"csrf_token": operator.csrf, **data})
        assert r.status_code == 422 and message in r.get_data(as_text=True), data
        assert 'aria-invalid="true"' in r.get_data(as_text=True)
    assert Auth(operator.client.application.test_client()).login(
        "weak@example.test").status_code == 302


def test_an_operator_setting_their_own_password_stays_signed_in_here_only(operator, app):
    """Their other sessions and tokens end; this one goes on (its cookie follows the new
    token version)."""
    other = Auth(app.test_client())
    other.login("users-op@example.test")
    r = operator.client.post(f"/users/{operator.user.id}/password", data={
        "csrf_token": operator.csrf, "password": "my own new passphrase",
        "confirm": "my own new passphrase"})
    assert r.headers["Location"] == f"/users/{operator.user.id}"
    assert operator.client.get("/users").status_code == 200
    assert other.client.get("/").status_code == 302


def test_unknown_user_ids_are_404(operator):
    """Pages and actions for an account that does not exist."""
    assert operator.client.get("/users/999999").status_code == 404
    assert operator.client.post("/users/999999/disable",
                                data={"csrf_token": operator.csrf}).status_code == 404


# -- the control message ---------------------------------------------------------------------

def test_the_control_message_closes_matching_sockets_and_nothing_else():
    """A QueueManager reading the channel: a close message from another process closes the
    sockets of its users and sessions only; an event whose data merely contains the words
    of a control message is delivered as an event, untouched."""
    from dashboard.events import QueueManager, control

    manager = QueueManager("redis://127.0.0.1:9/0", channel="probe")
    server = socketio.Server(client_manager=manager, async_mode="threading")
    dropped = []
    server.disconnect = lambda sid, namespace=None, ignore_queue=False: dropped.append(sid)
    saved = {}
    server.get_session = lambda sid, namespace=None: saved[sid]
    for eio_sid, session in (("a", {control.SOCKET_USER: 1, control.SOCKET_LOGIN: 10}),
                             ("b", {control.SOCKET_USER: 1, control.SOCKET_LOGIN: 11}),
                             ("c", {control.SOCKET_USER: 2, control.SOCKET_LOGIN: None})):
        saved[manager.connect(eio_sid, "/")] = session
    by_eio = {manager.sid_from_eio_sid(e, "/"): e for e in "abc"}

    message = control.close_message("other-host", sessions=[10], users=[])
    assert manager._handled_control(json.dumps(message).encode())
    assert [by_eio[s] for s in dropped] == ["a"]
    dropped.clear()
    assert manager._handled_control(json.dumps(control.close_message("x", [], [2])).encode())
    assert [by_eio[s] for s in dropped] == ["c"]
    dropped.clear()
    own = control.close_message(manager.host_id, [11], [1])  # ours: handled when sent
    assert manager._handled_control(json.dumps(own).encode()) and dropped == []
    lookalike = {"method": "emit", "event": "notification", "data": [
        {"message": '"method": "quantify_close_sockets"', "method": control.CLOSE}],
        "namespace": "/", "room": "operators", "host_id": "other-host"}
    assert not manager._handled_control(json.dumps(lookalike).encode())
    assert dropped == []
