"""The Socket.IO server against the live stack, with the python-socketio client: who may
connect, who receives what, catching up with `sync`, tabs in step, events from the worker,
and sockets of accounts that were disabled or revoked."""
from __future__ import annotations

import time

import pytest
import socketio

from dashboard.models import User
from tests import factories
from tests.livestack import Recorder, init_publisher, login_cookie, notify, unique_email

pytestmark = pytest.mark.stack


@pytest.fixture
def publisher(stack):
    """dashboard.events in this process publishes onto the stack's channel."""
    init_publisher(stack)
    return stack


@pytest.fixture
def clients():
    """Recorders made by a test, closed after it."""
    made: list[Recorder] = []
    yield made
    for client in made:
        client.close()


def resident_of_new_wallet(stack, balance="100.00", prefix="res"):
    """(wallet_id, user_id, email) of a new wallet with one resident login."""
    email = unique_email(prefix)
    with stack.session() as s:
        wallet = factories.wallet(s, balance)
        user = factories.resident(s, wallet, email=email)
        ids = wallet.id, user.id
    return (*ids, email)


def staff(stack, role="operator"):
    """A new operator or viewer; returns their email."""
    email = unique_email(role)
    with stack.session() as s:
        factories.user(s, role, email=email)
    return email


def connect(clients, stack, **kwargs) -> Recorder:
    """A connected Recorder that is closed after the test."""
    client = Recorder(stack.url, **kwargs)
    clients.append(client)
    return client.connect()


def refused(stack, **kwargs) -> str:
    """The server's reason for refusing a connection attempt that must be refused."""
    client = Recorder(stack.url, **kwargs)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect()
    client.close()
    assert client.refusals, "refused without a reason"
    return client.refusals[-1]["message"]


def test_connect_is_refused_without_valid_credentials(stack):
    _, _, email = resident_of_new_wallet(stack)
    token = stack.token(email)
    assert "unauthorized" in refused(stack)
    assert "unauthorized" in refused(stack, token="not-a-token")
    assert "unauthorized" in refused(stack, token=token[:-3] + "xyz")  # bad signature
    assert "unauthorized" in refused(stack, auth={"token": 12345})
    assert "unauthorized" in refused(stack, cookie="session=forged.cookie.value")
    # The HTTP API's bearer header is not one of the socket's two ways in.
    assert "unauthorized" in refused(stack, headers={"Authorization": f"Bearer {token}"})


def test_cookie_and_token_both_connect_and_get_the_unread_count(stack, clients):
    _, _, email = resident_of_new_wallet(stack)
    by_cookie = connect(clients, stack, cookie=login_cookie(stack.url, email))
    by_token = connect(clients, stack, token=stack.token(email))
    for client in (by_cookie, by_token):
        assert client.wait(lambda c: c.of("unread_count")) == [{"count": 0}]


def test_a_resident_gets_none_of_another_residents_events(stack, publisher, clients):
    _, _, email_a = resident_of_new_wallet(stack, prefix="res-a")
    wallet_b, _, email_b = resident_of_new_wallet(stack, prefix="res-b")
    a = connect(clients, stack, token=stack.token(email_a))
    b = connect(clients, stack, cookie=login_cookie(stack.url, email_b))
    operator = connect(clients, stack, token=stack.token(staff(stack, "operator")))
    viewer = connect(clients, stack, cookie=login_cookie(stack.url, staff(stack, "viewer")))
    for client in (a, b, operator, viewer):
        client.wait(lambda c: c.of("unread_count"))

    ids = notify(stack, wallet_b, 100, title="For B only")
    from dashboard import events
    with stack.session() as s:
        events.publish_wallet(s, wallet_b)

    b.wait(lambda c: len(c.of("notification")) == 100 and c.of("wallet"))
    assert b.ids() == ids
    assert b.of("unread_count")[-1] == {"count": 100}
    for watcher in (operator, viewer):  # staff see every notification
        watcher.wait(lambda c: set(ids) <= set(c.ids()) and c.of("wallet"))
    time.sleep(0.3)  # anything misrouted to A would have arrived with the rest by now
    assert a.of("notification") == [] and a.of("wallet") == []
    assert a.of("unread_count") == [{"count": 0}]  # only its own, at connect
    assert all(w["id"] == wallet_b for w in b.of("wallet"))


def test_reconnect_and_sync_backfills_every_missed_notification_once_in_order(
        stack, publisher, clients):
    wallet, _, email = resident_of_new_wallet(stack)
    token = stack.token(email)
    first = connect(clients, stack, token=token)
    seen = notify(stack, wallet, 2, title="Seen live")
    first.wait(lambda c: c.ids() == seen)
    first.close()

    missed = notify(stack, wallet, 50, title="Missed")

    again = connect(clients, stack, token=token)
    ack = again.sync(after_id=seen[-1])
    assert ack == {"sent": 50, "last_id": missed[-1]}
    assert again.ids() == missed  # all 50, once each, oldest first
    assert again.of("unread_count")[-1] == {"count": 52}
    # A second sync from the newest id has nothing more to say.
    assert again.sync(after_id=missed[-1]) == {"sent": 0, "last_id": missed[-1]}
    assert again.ids() == missed


def test_sync_sends_only_the_users_own_notifications(stack, publisher, clients):
    wallet_a, _, email_a = resident_of_new_wallet(stack, prefix="sync-a")
    wallet_b, _, _ = resident_of_new_wallet(stack, prefix="sync-b")
    mine = notify(stack, wallet_a, 3, publish=False)
    notify(stack, wallet_b, 3, publish=False)
    a = connect(clients, stack, token=stack.token(email_a))
    assert a.sync(after_id=0)["sent"] == 3
    assert a.ids() == mine
    # Nonsense after_id values mean "from the start", never an error or someone else's rows.
    for bad in (-5, "7", None, True, 1.5):
        assert a.sync(after_id=bad)["sent"] == 3


def test_two_tabs_of_one_user_stay_in_step(stack, publisher, clients):
    wallet, _, email = resident_of_new_wallet(stack)
    cookie = login_cookie(stack.url, email)
    tab1 = connect(clients, stack, cookie=cookie)
    tab2 = connect(clients, stack, cookie=cookie)
    ids = notify(stack, wallet, 3)
    for tab in (tab1, tab2):
        tab.wait(lambda c: c.ids() == ids and c.of("unread_count")[-1] == {"count": 3})

    token = stack.token(email)
    r = stack.api("POST", f"/notifications/{ids[0]}/read", token)
    assert r.status_code == 200, r.text
    for tab in (tab1, tab2):
        tab.wait(lambda c: c.of("unread_count")[-1] == {"count": 2})

    r = stack.api("POST", "/notifications/read-all", token)
    assert r.status_code == 200, r.text
    for tab in (tab1, tab2):
        tab.wait(lambda c: c.of("unread_count")[-1] == {"count": 0})


def test_a_topup_reaches_the_residents_socket_from_the_worker(stack, clients):
    wallet, _, email = resident_of_new_wallet(stack, balance="20.00")
    resident = connect(clients, stack, token=stack.token(email))
    operator_token = stack.token(staff(stack, "operator"))
    r = stack.api("POST", f"/wallets/{wallet}/topups", operator_token,
                  json={"amount": "100.00", "method": "eft"})
    assert r.status_code == 201, r.text
    tx_id = r.json()["transaction"]["id"]

    # topup_success is made and published by the worker's send_topup_notification.
    note = resident.wait(lambda c: [n for n in c.of("notification")
                                    if n["type"] == "topup_success"], timeout=15)[0]
    assert note["wallet_id"] == wallet and note["data"]["transaction_id"] == tx_id
    assert resident.wait(lambda c: [w for w in c.of("wallet")
                                    if w == {"id": wallet, "balance": "120.00", "state": "ok"}])
    resident.wait(lambda c: c.of("unread_count")[-1] == {"count": 1})


def test_sync_after_revoking_tokens_disconnects_and_sends_nothing(stack, publisher, clients):
    wallet, user_id, email = resident_of_new_wallet(stack)
    client = connect(clients, stack, token=stack.token(email))
    notify(stack, wallet, 2, publish=False)
    with stack.session() as s:
        s.get(User, user_id).token_version += 1  # "sign out everywhere"
    client.sio.emit("sync", {"after_id": 0})
    client.wait(lambda c: c.disconnects)
    assert client.of("notification") == []


def test_sync_after_the_account_is_disabled_disconnects_and_sends_nothing(
        stack, publisher, clients):
    wallet, user_id, email = resident_of_new_wallet(stack)
    cookie = login_cookie(stack.url, email)
    client = connect(clients, stack, cookie=cookie)
    notify(stack, wallet, 2, publish=False)
    with stack.session() as s:
        s.get(User, user_id).active = False
    client.sio.emit("sync", {"after_id": 0})
    client.wait(lambda c: c.disconnects)
    assert client.of("notification") == []
    assert "unauthorized" in refused(stack, cookie=cookie)  # and the old cookie is no way back



class FakeServer:
    """The parts of a python-socketio server `revalidate` uses, with saved sessions."""

    def __init__(self, sessions: dict[str, dict]):
        """sid -> saved session."""
        self.sessions, self.dropped = sessions, []
        self.manager = self

    def get_participants(self, namespace, room):
        """Every local socket of the namespace."""
        return [(sid, f"eio-{sid}") for sid in self.sessions]

    def get_session(self, sid, namespace=None):
        """What on_connect saved."""
        return self.sessions[sid]

    def disconnect(self, sid, namespace=None):
        """Record a server-side disconnect."""
        self.dropped.append(sid)


def test_the_sweep_disconnects_sockets_of_disabled_revoked_or_changed_accounts(db, make):
    """Server pushes pass no handler, so `revalidate` (every 30 s) drops such sockets."""
    from dashboard import sockets

    users = {name: make.user(role, email=f"sweep-{name}@example.test")
             for name, role in [("op", "operator"), ("res", "resident"),
                                ("demoted", "operator"), ("fine", "viewer")]}
    server = FakeServer({name: {"user_id": u.id, "role": u.role, "version": u.token_version}
                         for name, u in users.items()})
    server.sessions["gone"] = {"user_id": 999999, "role": "operator", "version": 0}
    server.sessions["connecting"] = {}  # before on_connect saved anything
    assert sockets.revalidate(server) == 1 and server.dropped == ["gone"]

    db.get(User, users["op"].id).active = False
    db.get(User, users["res"].id).token_version += 1
    db.get(User, users["demoted"].id).role = "resident"
    db.commit()
    server.dropped.clear()
    assert sockets.revalidate(server) == 4
    assert sorted(server.dropped) == ["demoted", "gone", "op", "res"]
