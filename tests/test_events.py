"""dashboard.events.publish: who each event goes to, with the notification service's counts.
(The queue manager: test_events_queue.py; batching: test_events_batch.py; the pinned
python-socketio internals it relies on: test_events_internals.py.)"""
from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from dashboard import events
from dashboard.models import Occupancy, User, utcnow
from dashboard.services import notifications


class FakeSocketIO:
    """Stands in for Flask-SocketIO: records (event, payload, rooms)."""

    def __init__(self):
        """Nothing sent yet."""
        self.sent: list[tuple[str, dict, list[str]]] = []

    def emit(self, name, payload, to=None):
        """Record one emit."""
        self.sent.append((name, payload, to if isinstance(to, list) else [to]))

    def of(self, name):
        """(payload, rooms) of one event name."""
        return [(p, rooms) for n, p, rooms in self.sent if n == name]


@pytest.fixture
def fake(app, monkeypatch):
    """events publishes into a FakeSocketIO for one test."""
    recorder = FakeSocketIO()
    monkeypatch.setattr(events.emitter, "_socketio", recorder)
    return recorder


def store(db, wallet_id, kind="topup_success", key=None):
    """One stored (and delivered) notification for a wallet; its id."""
    row = notifications.notification_row(kind, "Title", "Message", now=utcnow(),
                                         dedup_key=key or f"k{time.monotonic_ns()}",
                                         wallet_id=wallet_id)
    ids = notifications.store(db, [row])
    db.commit()
    return ids[0]


# -- routing ---------------------------------------------------------------------------

def test_a_notification_goes_to_its_residents_and_operators_only(db, make, fake):
    mine, other = make.wallet("40.00"), make.wallet("40.00")
    alice = make.resident(mine, email="alice@example.test")
    bob = make.resident(mine, email="bob@example.test")
    make.resident(other, email="carol@example.test")
    moved_out = make.resident(mine, email="dave@example.test")
    db.query(Occupancy).filter_by(person_id=moved_out.person_id).update(
        {"end_date": date.today() - timedelta(days=1)})
    db.commit()
    nid = store(db, mine.id)

    assert events.publish_notifications(db, [nid]) == 1
    [(payload, rooms)] = fake.of("notification")
    assert payload["id"] == nid and payload["wallet_id"] == mine.id
    assert sorted(rooms) == sorted(["operators", f"user:{alice.id}", f"user:{bob.id}"])
    # Users with the same count share one message to all their rooms.
    counts = {room: p["count"] for p, rooms in fake.of("unread_count") for room in rooms}
    assert counts == {f"user:{alice.id}": 1, f"user:{bob.id}": 1}


def test_unread_count_is_recomputed_from_the_database(db, make, fake):
    w = make.wallet()
    res = make.resident(w, email="count@example.test")
    first, _second = store(db, w.id), store(db, w.id)
    notifications.mark_read(db, res, first, utcnow())
    db.commit()
    events.publish_unread_counts(db, [res.id])
    assert fake.of("unread_count") == [({"count": 1}, [f"user:{res.id}"])]


def test_wallet_event_goes_to_operators_and_that_wallets_residents(db, make, fake):
    w, other = make.wallet("9.00"), make.wallet()
    res = make.resident(w, email="w1@example.test")
    make.resident(other, email="w2@example.test")
    events.publish_wallet(db, w.id)
    [(payload, rooms)] = fake.of("wallet")
    assert payload == {"id": w.id, "balance": "9.00", "state": w.state}
    assert sorted(rooms) == ["operators", f"user:{res.id}"]


def test_task_runs_go_to_operators_only(db, make, fake):
    from dashboard.services.scans import runs as task_runs

    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    events.publish_task_run(run)
    [(payload, rooms)] = fake.of("task_run")
    assert rooms == ["operators"] and payload["id"] == run.id




# -- the unread counts are the notification service's ---------------------------------------

def test_the_published_unread_counts_are_the_services(db, make, fake):
    home, other = make.wallet(), make.wallet()
    people = {name: make.resident(home, email=f"agree-{name}@example.test")
              for name in ("none-read", "some-read", "all-read", "promoted")}
    elsewhere = make.resident(other, email="agree-elsewhere@example.test")
    viewer = make.user("viewer", email="agree-viewer@example.test")
    ids = [store(db, home.id) for _ in range(3)] + [store(db, other.id)]
    notifications.mark_read(db, people["some-read"], ids[0], utcnow())
    notifications.mark_all_read(db, people["all-read"], utcnow())
    # A resident who became an operator keeps their deliveries, but staff have no read state.
    db.query(User).filter_by(id=people["promoted"].id).update({"role": "operator"})
    db.commit()
    users = [*people.values(), elsewhere, viewer]
    for user in users:
        db.refresh(user)

    events.publish_unread_counts(db, [u.id for u in users])
    published: dict[str, int] = {}
    for payload, rooms in fake.of("unread_count"):
        for room in rooms:
            assert room not in published  # each user told once
            published[room] = payload["count"]
    service = {events.user_room(u.id): notifications.unread_count(db, u) for u in users}
    assert published == service
    assert list(service.values()) == [3, 2, 0, 0, 1, 0]
    assert notifications.unread_counts(db, [u.id for u in users]) == {
        u.id: service[events.user_room(u.id)] for u in users}


def test_publishing_notifications_tells_each_recipient_the_services_count(db, make, fake):
    w = make.wallet()
    first = make.resident(w, email="agree-first@example.test")
    second = make.resident(w, email="agree-second@example.test")
    old = store(db, w.id)
    notifications.mark_read(db, first, old, utcnow())
    db.commit()
    new = [store(db, w.id) for _ in range(2)]

    assert events.publish_notifications(db, new) == 2
    published = {room: p["count"] for p, rooms in fake.of("unread_count") for room in rooms}
    assert published == {events.user_room(u.id): notifications.unread_count(db, u)
                         for u in (first, second)}
    assert published == {events.user_room(first.id): 2, events.user_room(second.id): 3}


# -- the one publisher ------------------------------------------------------------------------

def test_only_the_events_package_emits_on_socketio():
    """No module outside dashboard/events emits: none imports flask_socketio's or socketio's
    emit/send, and none calls an `.emit(...)` or `.send(...)` of a Socket.IO object."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    emitters = {"emit", "send", "call"}
    found = []
    for path in [*root.joinpath("dashboard").rglob("*.py"), *root.joinpath("worker").rglob("*.py")]:
        if "events" in path.relative_to(root).parts[1:2]:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in \
                    ("flask_socketio", "socketio") and emitters & {a.name for a in node.names}:
                found.append(f"{path.relative_to(root)}:{node.lineno} imports an emitter")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("emit", "send") \
                    and "socketio" in ast.unparse(node.func.value).lower():
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node.func)}")
    assert found == []
