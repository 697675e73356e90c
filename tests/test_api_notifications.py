"""The notifications API: who sees what, read state per recipient, paging and catching up."""
from datetime import datetime, timedelta, timezone

import pytest

from dashboard.models import Wallet
from dashboard.services.payments import transactions
from dashboard.services.payments.notices import notify_transaction
from dashboard.services.scans import credit_alerts

FIELDS = {"id", "type", "title", "message", "priority", "channel", "wallet_id", "created_at",
          "read_at", "resolved_at", "data"}




def headers_for(client, user):
    """Bearer headers of a user made by the factories."""
    r = client.post("/api/v1/auth/token", json={"email": user.email,
                                                "password": "correct-horse-battery"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def top_ups(db, wallet_id, n, start=None):
    """`n` top-ups of a wallet with their topup_success notifications; the notification ids."""
    start = start or datetime.now(timezone.utc) - timedelta(minutes=30)
    ids = []
    for i in range(n):
        at = start + timedelta(seconds=i)
        tx = transactions.top_up(db, wallet_id, f"{i + 1}.00", "card", now=at).transaction
        ids += notify_transaction(db, tx.id, at)
        db.commit()
    return ids


@pytest.fixture
def homes(db, make, client):
    """Two homes: A with two residents, B with one; an operator. Headers and wallet ids."""
    a, b = make.wallet("100.00"), make.wallet("100.00")
    a1, a2 = make.resident(a), make.resident(a, name=("Second", "Resident"), primary=False)
    b1 = make.resident(b)
    op = make.user("operator")
    return {"a": a.id, "b": b.id, "a1": headers_for(client, a1), "a2": headers_for(client, a2),
            "b1": headers_for(client, b1), "op": headers_for(client, op)}


def listing(client, headers, query=""):
    """GET /notifications?query → the body."""
    r = client.get(f"/api/v1/notifications?{query}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_residents_see_their_own_and_operators_see_all(client, db, homes):
    """A's residents see A's notifications only; B's resident B's; the operator all of them."""
    a_ids = top_ups(db, homes["a"], 2)
    b_ids = top_ups(db, homes["b"], 1)
    assert [n["id"] for n in listing(client, homes["a1"])["items"]] == a_ids[::-1]
    assert [n["id"] for n in listing(client, homes["a2"])["items"]] == a_ids[::-1]
    assert [n["id"] for n in listing(client, homes["b1"])["items"]] == b_ids
    assert [n["id"] for n in listing(client, homes["op"])["items"]] == \
        sorted(a_ids + b_ids, reverse=True)
    # Another home's notification is a 404, to read or to mark.
    assert client.post(f"/api/v1/notifications/{a_ids[0]}/read",
                       headers=homes["b1"]).status_code == 404


def test_notification_shape(client, db, homes):
    """Every field of the notification JSON, amounts in rand, the ids it concerns in data."""
    (nid,) = top_ups(db, homes["a"], 1)
    (n,) = listing(client, homes["a1"])["items"]
    assert set(n) == FIELDS
    assert (n["id"], n["type"], n["priority"], n["channel"], n["wallet_id"]) == \
        (nid, "topup_success", "normal", "in_app", homes["a"])
    assert n["read_at"] is None and n["resolved_at"] is None
    assert n["created_at"].endswith("+00:00")
    assert n["data"]["transaction_id"] and n["data"]["amount"] == "1.00"
    assert "R 1.00" in n["message"]


def test_ids_increase_in_the_order_notifications_are_made(db, homes):
    """Made one after another, across types: ids increase."""
    w = homes["a"]
    first = top_ups(db, w, 1)
    transactions.purchase(db, w, "water", "95.00", now=datetime.now(timezone.utc))
    alerts = credit_alerts.check_wallets(db, Wallet.__table__.c.id == w,
                                         datetime.now(timezone.utc))
    db.commit()
    second = top_ups(db, w, 1)
    made = first + alerts["critical_credit"].notification_ids + second
    assert len(made) == 3 and made == sorted(made)


def test_read_state_is_per_recipient(client, db, homes):
    """One resident reading a notification leaves the other's unread; counts follow."""
    ids = top_ups(db, homes["a"], 3)
    count = lambda h: client.get("/api/v1/notifications/unread-count",
                                 headers=h).get_json()["count"]
    assert (count(homes["a1"]), count(homes["a2"]), count(homes["b1"])) == (3, 3, 0)
    r = client.post(f"/api/v1/notifications/{ids[0]}/read", headers=homes["a1"])
    assert r.status_code == 200 and r.get_json()["read_at"] is not None
    assert (count(homes["a1"]), count(homes["a2"])) == (2, 3)
    unread = listing(client, homes["a1"], "unread=true")["items"]
    assert [n["id"] for n in unread] == ids[:0:-1]
    r = client.post("/api/v1/notifications/read-all", headers=homes["a1"])
    assert r.get_json() == {"updated": 2, "count": 0}
    assert (count(homes["a1"]), count(homes["a2"])) == (0, 3)
    # Marking again changes nothing and is still fine.
    assert client.post(f"/api/v1/notifications/{ids[0]}/read",
                       headers=homes["a1"]).status_code == 200


def test_operators_have_no_unread_state(client, db, homes):
    """Staff see everything; their unread count is 0 and marking is a harmless no-op."""
    (nid,) = top_ups(db, homes["a"], 1)
    assert client.get("/api/v1/notifications/unread-count",
                      headers=homes["op"]).get_json() == {"count": 0}
    assert client.post(f"/api/v1/notifications/{nid}/read",
                       headers=homes["op"]).status_code == 200
    assert client.get("/api/v1/notifications/unread-count",
                      headers=homes["a1"]).get_json() == {"count": 1}


def test_pages_newest_first_with_next_cursor(client, db, homes):
    """limit=2 over 5: pages of 2, 2, 1, newest first, each id once, next_cursor null last."""
    ids = top_ups(db, homes["a"], 5)
    seen, cursor = [], None
    for _ in range(5):
        body = listing(client, homes["a1"], "limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [n["id"] for n in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_catching_up_after_an_id_pages_forward(client, db, homes):
    """after_id lists what came after, oldest first; following next_cursor keeps going forward
    (a reconnecting client catching up must neither loop nor skip)."""
    ids = top_ups(db, homes["a"], 6)
    seen, cursor = [], None
    for _ in range(6):
        query = f"after_id={ids[0]}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = listing(client, homes["a1"], query)
        seen += [n["id"] for n in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[1:]


def test_type_filter(client, db, homes):
    """?type=critical_credit lists only that type."""
    w = homes["a"]
    top_ups(db, w, 1)
    transactions.purchase(db, w, "water", "95.00", now=datetime.now(timezone.utc))
    credit_alerts.check_wallets(db, Wallet.__table__.c.id == w, datetime.now(timezone.utc))
    db.commit()
    body = listing(client, homes["a1"], "type=critical_credit")
    assert [n["type"] for n in body["items"]] == ["critical_credit"]
    assert body["items"][0]["priority"] == "critical"


def test_bad_queries_are_422(client, homes):
    """Unknown types, non-boolean unread, bad ids and limits: 422 naming the parameter."""
    for query, field in [("type=spam", "type"), ("unread=maybe", "unread"),
                         ("after_id=abc", "after_id"), ("after_id=-1", "after_id"),
                         ("cursor=x", "cursor"), ("limit=0", "limit"), ("limit=999", "limit")]:
        r = client.get(f"/api/v1/notifications?{query}", headers=homes["a1"])
        assert r.status_code == 422, query
        assert field in r.get_json()["error"]["fields"], query


def test_anonymous_is_401_and_unknown_ids_404(client, homes):
    """No token: 401. Unknown or absurd ids: 404."""
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.get("/api/v1/notifications/unread-count").status_code == 401
    for nid in ("424242", "99999999999999999999999"):
        r = client.post(f"/api/v1/notifications/{nid}/read", headers=homes["a1"])
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
