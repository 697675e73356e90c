"""The Socket.IO authorization matrix on the live stack: every server event and every client
event × anonymous, resident A, resident B, viewer, operator.

Server → client: `notification` and `wallet` about A's wallet reach A and the staff only,
`unread_count` reaches only the user it counts for, `task_run` reaches the staff only.
Client → server: every handler the server registers (discovered, so a new one is covered)
is sent junk and hostile payloads by every identity: nobody gets anything that is not theirs,
and nobody is answered with an error that breaks the connection. Anonymous (and forged)
connections are refused before any of it.
"""
from __future__ import annotations

import time

import pytest
import socketio

from dashboard import events
from dashboard.models import TaskRun, utcnow
from tests import factories
from tests.livestack import Recorder, init_publisher, login_cookie, notify, unique_email

pytestmark = pytest.mark.stack

JUNK = [None, {}, {"after_id": -1}, {"after_id": "0"}, {"after_id": 10**30},
        {"after_id": True}, {"after_id": {"$gt": 0}}, "sync", [1, 2], {"after_id": 1.5},
        {"room": "operators"}, {"user_id": 1}]


def client_events() -> list[str]:
    """The events the server handles from clients: every `@socketio.on(...)` in the app's
    code (read from the source, so collecting the tests starts no app)."""
    import re
    from pathlib import Path

    import dashboard

    names = set()
    for path in Path(dashboard.__file__).parent.rglob("*.py"):
        names.update(re.findall(r"""@socketio\.on\(\s*["']([^"']+)["']""", path.read_text()))
    names -= {"connect", "disconnect"}
    assert names, "no client events found"
    return sorted(names)


@pytest.fixture(scope="module")
def people(stack):
    """Resident A (with a wallet), resident B, a viewer and an operator in the stack's
    database, connected: A and the operator with the browser cookie, B and the viewer with
    a token. Closed at the end."""
    emails = {k: unique_email(f"sockm-{k}") for k in ("a", "b", "viewer", "operator")}
    with stack.session() as s:
        wallet_a = factories.wallet(s, "100.00")
        wallet_b = factories.wallet(s, "100.00")
        a = factories.resident(s, wallet_a, email=emails["a"])
        b = factories.resident(s, wallet_b, email=emails["b"])
        factories.user(s, "viewer", email=emails["viewer"])
        factories.user(s, "operator", email=emails["operator"])
        ids = {"wallet_a": wallet_a.id, "wallet_b": wallet_b.id, "a": a.id, "b": b.id}
    init_publisher(stack)
    clients = {
        "resident_a": Recorder(stack.url, cookie=login_cookie(stack.url, emails["a"])),
        "resident_b": Recorder(stack.url, token=stack.token(emails["b"])),
        "viewer": Recorder(stack.url, token=stack.token(emails["viewer"])),
        "operator": Recorder(stack.url, cookie=login_cookie(stack.url, emails["operator"])),
    }
    for client in clients.values():
        client.connect()
    yield ids, clients
    for client in clients.values():
        client.close()


@pytest.mark.parametrize("kwargs", [{}, {"token": "forged"}, {"cookie": "session=forged"},
                                    {"headers": {"Authorization": "Bearer forged"}},
                                    {"auth": {"token": "x" * 5000}}, {"auth": "token"}],
                         ids=["nothing", "forged token", "forged cookie", "bearer header",
                              "huge token", "wrong auth type"])
def test_anonymous_and_forged_connections_are_refused(stack, kwargs):
    """No credentials, or forged ones: the connection is refused as `unauthorized`."""
    client = Recorder(stack.url, **kwargs)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect()
    client.close()
    assert client.refusals and client.refusals[-1]["message"] == "unauthorized"
    assert not client.events


def test_server_events_reach_only_whom_they_concern(stack, people):
    """A notification and a wallet event about A's wallet, and a task run: A gets the first
    two (and its unread count), B gets nothing, viewer and operator get all three."""
    ids, clients = people
    for client in clients.values():
        client.events.clear()
    (notice,) = notify(stack, ids["wallet_a"], title="Matrix notice")
    with stack.session() as s:
        events.publish_wallet(s, ids["wallet_a"])
        run = TaskRun(task="analyze_high_usage", trigger="manual", state="failed",
                      finished_at=utcnow())
        s.add(run)
        s.flush()
        events.publish_task_run(run)
        run_id = run.id

    def got(name, event, match):
        return any(match(p) for p in clients[name].of(event))

    is_notice = lambda p: p.get("id") == notice  # noqa: E731
    is_wallet = lambda p: p.get("id") == ids["wallet_a"]  # noqa: E731
    is_run = lambda p: p.get("id") == run_id  # noqa: E731
    for name in ("resident_a", "viewer", "operator"):
        clients[name].wait(lambda c, n=name: got(n, "notification", is_notice)
                           and got(n, "wallet", is_wallet))
    for name in ("viewer", "operator"):
        clients[name].wait(lambda c, n=name: got(n, "task_run", is_run))
    clients["resident_a"].wait(lambda c: c.of("unread_count"))
    time.sleep(0.5)  # anything that was going to reach the others has arrived by now
    assert not got("resident_a", "task_run", is_run)
    b = clients["resident_b"]
    assert not b.of("notification") and not b.of("wallet") and not b.of("task_run")
    assert not b.of("unread_count")  # A's count is A's
    assert clients["resident_a"].of("unread_count")[-1]["count"] >= 1


@pytest.mark.parametrize("event", client_events())
def test_client_events_with_junk_payloads_leak_nothing(stack, people, event):
    """Every client event, sent hostile payloads by every identity: the connection stays
    up, resident B never receives A's notification, A receives only its own, and the staff
    receive A's when they ask."""
    ids, clients = people
    (notice,) = notify(stack, ids["wallet_a"], title="Junk payload check")
    for client in clients.values():
        client.events.clear()
    for name, client in clients.items():
        try:  # does this event acknowledge a sensible payload? then it must ack junk too
            acks = client.sio.call(event, {"after_id": notice - 1}, timeout=5) is not None
        except socketio.exceptions.TimeoutError:
            acks = False
        for payload in JUNK:
            try:
                client.sio.call(event, payload, timeout=5)
            except socketio.exceptions.TimeoutError:
                # No answer: the handler failed on this payload (or never answers at all).
                assert not acks, f"{event} {payload!r} from {name}: no acknowledgement"
            assert client.sio.connected, (name, event, payload)
    time.sleep(0.3)
    b_ids = clients["resident_b"].ids()
    assert notice not in b_ids
    with stack.session() as s:
        from dashboard.models import Notification

        wallets = {n.wallet_id for n in s.query(Notification)
                   .filter(Notification.id.in_(clients["resident_a"].ids()))}
        b_wallets = {n.wallet_id for n in s.query(Notification).filter(Notification.id.in_(b_ids))}
    assert wallets <= {ids["wallet_a"]} and b_wallets <= {ids["wallet_b"]}
    for name in ("resident_a", "viewer", "operator"):
        assert notice in clients[name].ids(), name


def test_a_resident_cannot_join_the_operators_room(stack, people):
    """Asking to join a room, or to act as another user, does nothing: resident B still gets
    no task runs and none of A's notifications."""
    ids, clients = people
    b = clients["resident_b"]
    for event in ("join", "join_room", "enter_room", "subscribe"):
        b.sio.emit(event, {"room": "operators"})
        b.sio.emit(event, {"room": f"user:{ids['a']}"})
    b.events.clear()
    notify(stack, ids["wallet_a"], title="After the join attempts")
    with stack.session() as s:
        run = TaskRun(task="analyze_high_usage", trigger="manual", state="failed",
                      finished_at=utcnow())
        s.add(run)
        s.flush()
        events.publish_task_run(run)
    clients["operator"].wait(lambda c: any(p.get("id") == run.id for p in c.of("task_run")))
    time.sleep(0.3)
    assert not b.of("task_run") and not b.of("notification")
