"""The resident part of /api/v1, as a mobile app uses it: a bearer token and no cookies."""
from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest

from dashboard import dispatch
from dashboard.models import utcnow
from dashboard.services import notifications
from tests import provider


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Payments queue their real-time tasks; these tests only look at the API's answers."""
    monkeypatch.setattr(dispatch, "after_transaction", lambda tx: True)


@pytest.fixture
def app_user(app, make):
    """A resident's phone: a bearer token, a cookie-less client, their wallet and a neighbour's."""
    estate = make.estate(min_low_balance_threshold=Decimal("20.00"),
                         max_low_balance_threshold=Decimal("500.00"))
    wallet = make.wallet("100.00", estate_obj=estate)
    user = make.resident(wallet, email="phone@example.test")
    other = make.wallet("70.00")
    make.resident(other, email="neighbour@example.test")
    client = app.test_client(use_cookies=False)
    token = client.post("/api/v1/auth/token", json={"email": "phone@example.test",
                                                    "password": "correct-horse-battery"})
    assert token.status_code == 200 and token.get_json()["user"]["role"] == "resident"
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}

    def call(method, path, **kw):
        """An API call with the bearer token (and any extra headers)."""
        return client.open("/api/v1" + path, method=method,
                           headers={**headers, **kw.pop("headers", {})}, **kw)

    return SimpleNamespace(call=call, wallet=wallet, other=other, user=user, client=client)


def _notify(db, wallet, kind="high_usage", count=1) -> list[int]:
    """Store notifications for the wallet's residents."""
    ids = notifications.store(db, [notifications.notification_row(
        kind, f"{kind} {i}", "Message", dedup_key=f"api-{uuid.uuid4().hex}", now=utcnow(),
        wallet_id=wallet.id) for i in range(count)])
    db.commit()
    return ids


def test_calls_without_a_valid_token_are_401(app_user):
    for headers in ({}, {"Authorization": "Bearer forged"}):
        response = app_user.client.get("/api/v1/wallets", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_resident_sees_only_their_wallets(app_user):
    listing = app_user.call("GET", "/wallets").get_json()
    assert [w["id"] for w in listing["items"]] == [app_user.wallet.id]
    assert listing["next_cursor"] is None
    wallet = app_user.call("GET", f"/wallets/{app_user.wallet.id}").get_json()
    assert wallet["balance"] == "100.00" and wallet["state"] == "ok"
    assert set(wallet["balances"]) == {"electricity", "water", "solar", "hot_water"}
    assert wallet["residents"][0]["name"] == "Test Resident"
    for path in (f"/wallets/{app_user.other.id}", f"/wallets/{app_user.other.id}/transactions",
                 "/wallets/999999"):
        response = app_user.call("GET", path)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == \
            "not_found"


def test_a_top_up_with_an_idempotency_key_is_made_once_without_csrf(app_user):
    """The phone starts a payment (202, pending) and replays it (200, the same payment); the
    provider's webhook credits it once; the ledger has one top-up."""
    path = f"/wallets/{app_user.wallet.id}/topups"
    body = {"amount": "49.50", "method": "card"}
    first = app_user.call("POST", path, json=body, headers={"Idempotency-Key": "phone-1"})
    assert first.status_code == 202
    payment = first.get_json()["payment"]
    assert (payment["status"], payment["amount"], payment["method"]) == ("pending", "49.50",
                                                                         "card")
    replay = app_user.call("POST", path, json=body, headers={"Idempotency-Key": "phone-1"})
    assert replay.status_code == 200 and replay.get_json()["payment"]["id"] == payment["id"]
    assert app_user.call("GET", f"/wallets/{app_user.wallet.id}").get_json()["balance"] == \
        "100.00"
    assert provider.post(app_user.client, *provider.signed(payment["id"], "49.50")) \
        .status_code == 200
    paid = app_user.call("GET", f"/payments/{payment['id']}").get_json()
    assert paid["status"] == "succeeded"
    ledger = app_user.call("GET", f"/wallets/{app_user.wallet.id}/transactions").get_json()
    assert [t["id"] for t in ledger["items"]] == [paid["transaction_id"]]
    assert ledger["items"][0]["balance_after"] == "149.50"


def test_a_purchase_gives_units_and_more_than_the_balance_is_409(app_user):
    path = f"/wallets/{app_user.wallet.id}/purchases"
    made = app_user.call("POST", path, json={"utility": "electricity", "amount": "50.00"})
    assert made.status_code == 201 and made.get_json()["transaction"]["units"] == "20.000"
    short = app_user.call("POST", path, json={"utility": "water", "amount": "80.00"})
    assert short.status_code == 409
    error = short.get_json()["error"]
    assert error["code"] == "insufficient_funds" and "R 50.00" in error["fields"]["amount"]
    assert app_user.call("GET", f"/wallets/{app_user.wallet.id}").get_json()["balance"] == \
        "50.00"


def test_paying_into_someone_elses_wallet_is_404(app_user):
    for kind, body in (("topups", {"amount": "5", "method": "card"}),
                       ("purchases", {"amount": "5", "utility": "water"})):
        response = app_user.call("POST", f"/wallets/{app_user.other.id}/{kind}", json=body)
        assert response.status_code == 404


@pytest.mark.parametrize("method", ["cash", "manual_admin", "eft"])
def test_residents_cannot_record_office_payment_methods(app_user, method):
    response = app_user.call("POST", f"/wallets/{app_user.wallet.id}/topups",
                             json={"amount": "10.00", "method": method})
    assert response.status_code == 422
    assert "method" in response.get_json()["error"]["fields"]


def test_alert_settings_within_the_estate_bounds(app_user):
    path = f"/wallets/{app_user.wallet.id}"
    ok = app_user.call("PATCH", path, json={"alert_mode": "days", "low_balance_threshold": "120",
                                            "low_balance_days": 5})
    assert ok.status_code == 200
    assert (ok.get_json()["alert_mode"], ok.get_json()["low_balance_threshold"]) == \
        ("days", "120.00")
    outside = app_user.call("PATCH", path, json={"low_balance_threshold": "900.00"})
    assert outside.status_code == 422
    assert "R 500.00" in outside.get_json()["error"]["fields"]["low_balance_threshold"]
    assert app_user.call("GET", path).get_json()["low_balance_threshold"] == "120.00"
    assert app_user.call("PATCH", f"/wallets/{app_user.other.id}",
                         json={"low_balance_threshold": "100"}).status_code == 404


def test_notifications_unread_count_read_and_read_all(app_user, db):
    mine = _notify(db, app_user.wallet, count=3)
    _notify(db, app_user.other, "low_credit")
    listing = app_user.call("GET", "/notifications?limit=2").get_json()
    assert [n["id"] for n in listing["items"]] == [mine[2], mine[1]]  # newest first
    rest = app_user.call("GET", f"/notifications?limit=2&cursor={listing['next_cursor']}")
    assert [n["id"] for n in rest.get_json()["items"]] == [mine[0]]
    assert app_user.call("GET", "/notifications?type=low_credit").get_json()["items"] == []
    assert app_user.call("GET", "/notifications/unread-count").get_json() == {"count": 3}

    read = app_user.call("POST", f"/notifications/{mine[0]}/read")
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    unread = app_user.call("GET", "/notifications?unread=true").get_json()["items"]
    assert [n["id"] for n in unread] == [mine[2], mine[1]]

    assert app_user.call("POST", "/notifications/read-all").get_json()["count"] == 0
    assert app_user.call("GET", "/notifications/unread-count").get_json() == {"count": 0}


def test_someone_elses_notification_is_404(app_user, db):
    theirs = _notify(db, app_user.other)[0]
    assert app_user.call("POST", f"/notifications/{theirs}/read").status_code == 404


@pytest.mark.parametrize("method, path", [("GET", "/scans"), ("GET", "/task-runs"),
                                          ("POST", "/scans/check_low_credit_wallets/run")])
def test_operator_routes_are_404_for_a_resident(app_user, method, path):
    assert app_user.call(method, path).status_code == 404
