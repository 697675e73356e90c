"""Contact details, preferences and deliveries through the API and the pages: field errors
for bad numbers and addresses, the critical rule, a resident's own deliveries only, Retry
for failed ones only, the settings page's form."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from dashboard.models import NotificationDelivery, Person, utcnow
from dashboard.services.channels import addresses
from dashboard.services.scans import credit_alerts
from tests import factories

HX = {"HX-Request": "true"}
D = NotificationDelivery


@pytest.mark.parametrize("typed, stored", [
    ("082 123 4567", "+27821234567"), ("+27 82 123 4567", "+27821234567"),
    ("0027821234567", "+27821234567"), ("27-82-123-4567", "+27821234567"),
    ("(071) 555 0199", "+27715550199"), ("+44 7700 900123", "+447700900123"), ("", None)])
def test_numbers_are_stored_in_e164(typed, stored):
    assert addresses.parse_phone(typed) == stored


@pytest.mark.parametrize("typed", ["021 123 4567", "+27 21 123 4567", "12345", "082 123 456",
                                   "082 123 45678", "+0821234567", "call me", "٠٨٢١٢٣٤٥٦٧",
                                   "+1 23"])
def test_anything_else_is_a_field_error(typed):
    with pytest.raises(Exception) as exc:
        addresses.parse_phone(typed)
    assert "phone" in exc.value.fields


@pytest.fixture
def resident(make, db, client):
    """A resident with a wallet in critical state and an alert made; bearer headers."""
    wallet = make.wallet("5.00")
    user = make.resident(wallet, email="api-res@example.test")
    r = client.post("/api/v1/auth/token", json={"email": user.email,
                                                "password": "correct-horse-battery"})
    return user, wallet, {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_get_and_patch_me(client, resident):
    user, _, headers = resident
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["sign_in_email"] == user.email and me["email"] is None and me["phone"] is None
    r = client.patch("/api/v1/me", json={"email": "Me@Example.test", "phone": "082 123 4567"},
                     headers=headers)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["email"], r.get_json()["phone"]) == ("Me@example.test", "+27821234567")
    assert r.get_json()["sign_in_email"] == user.email  # the sign-in identity is not changed
    r = client.patch("/api/v1/me", json={"phone": "021 123 4567", "email": "nope"},
                     headers=headers)
    assert r.status_code == 422
    assert set(r.get_json()["error"]["fields"]) == {"phone", "email"}
    assert client.get("/api/v1/me", headers=headers).get_json()["phone"] == "+27821234567"


def test_preferences_have_the_estate_defaults_and_the_critical_rule(client, resident):
    _, _, headers = resident
    prefs = client.get("/api/v1/me/preferences", headers=headers).get_json()
    assert prefs["channels"]["critical_credit"] == ["email", "sms"]
    assert prefs["channels"]["low_credit"] == ["email"]
    assert prefs["channels"]["high_usage"] == ["email"]
    assert prefs["channels"]["topup_success"] == []
    assert prefs["quiet_hours"] == {"start": "21:00", "end": "07:00"}
    # Without an address, critical alerts may go nowhere outside the app...
    r = client.put("/api/v1/me/preferences", json={"channels": {"critical_credit": []}},
                   headers=headers)
    assert r.status_code == 200
    # ...but not once the resident has an address for a channel: adding one is refused
    # while critical alerts would not use it,
    r = client.patch("/api/v1/me", json={"phone": "0821234567"}, headers=headers)
    assert r.status_code == 422 and "critical_credit" in r.get_json()["error"]["fields"]
    client.put("/api/v1/me/preferences", json={"channels": {"critical_credit": ["sms"]}},
               headers=headers)
    assert client.patch("/api/v1/me", json={"phone": "0821234567"},
                        headers=headers).status_code == 200
    # and so is choosing only a channel the resident has no address for.
    r = client.put("/api/v1/me/preferences", json={"channels": {"critical_credit": ["email"]}},
                   headers=headers)
    assert r.status_code == 422 and "critical_credit" in r.get_json()["error"]["fields"]
    r = client.put("/api/v1/me/preferences", json={
        "channels": {"critical_credit": ["sms"], "low_credit": ["sms", "email"]},
        "quiet_hours": {"start": "22:30", "end": "06:00"}}, headers=headers)
    assert r.status_code == 200
    assert r.get_json()["channels"]["low_credit"] == ["email", "sms"]
    assert r.get_json()["quiet_hours"] == {"start": "22:30", "end": "06:00"}
    for bad in ({"quiet_hours": {"start": "25:00", "end": "06:00"}},
                {"channels": {"low_credit": ["fax"]}}, {"channels": {"nope": []}},
                {"quiet_hours": {"start": "22:00"}}, {"channels": ["x"]}):
        assert client.put("/api/v1/me/preferences", json=bad, headers=headers).status_code == 422


def test_a_resident_sees_only_their_own_deliveries(client, make, db, resident):
    user, wallet, headers = resident
    neighbour = make.resident(wallet, email="neighbour@example.test", name=("N", "B"))
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.commit()
    nid = db.scalar(D.__table__.select().with_only_columns(D.notification_id).limit(1))
    r = client.get(f"/api/v1/notifications/{nid}/deliveries", headers=headers)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert {d["user_id"] for d in items} == {user.id}
    assert {d["channel"] for d in items} == {"in_app", "email", "sms"}
    op = factories.operator_and_token(db, client)
    everyone = client.get(f"/api/v1/notifications/{nid}/deliveries", headers=op).get_json()
    assert {d["user_id"] for d in everyone["items"]} == {user.id, neighbour.id}
    assert client.get("/api/v1/deliveries", headers=headers).status_code == 404
    other = make.wallet("5.00")
    make.resident(other, email="far@example.test")
    credit_alerts.check_wallet(db, other.id, utcnow())
    db.commit()
    other_nid = db.scalar(D.__table__.select().with_only_columns(D.notification_id)
                          .order_by(D.id.desc()).limit(1))
    assert client.get(f"/api/v1/notifications/{other_nid}/deliveries",
                      headers=headers).status_code == 404


def test_operators_list_filter_and_retry_failed_deliveries(client, make, db):
    wallet = make.wallet("5.00")
    make.resident(wallet)
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.commit()
    op = factories.operator_and_token(db, client)
    page = client.get("/api/v1/deliveries?limit=1", headers=op).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert {d["channel"] for d in client.get("/api/v1/deliveries",
                                            headers=op).get_json()["items"]} == {"email", "sms"}
    sms = client.get("/api/v1/deliveries?channel=sms&status=suppressed",
                     headers=op).get_json()["items"]
    assert [d["error"] for d in sms] == ["No mobile number"]
    assert client.get("/api/v1/deliveries?status=lost", headers=op).status_code == 422
    r = client.post(f"/api/v1/deliveries/{sms[0]['id']}/retry", headers=op)
    assert r.status_code == 409
    db.execute(update(D).where(D.id == sms[0]["id"]).values(status="failed", error="x",
                                                             attempts=5))
    db.commit()
    r = client.post(f"/api/v1/deliveries/{sms[0]['id']}/retry", headers=op)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["attempts"]) == ("pending", 0)
    viewer = factories.operator_and_token(db, client, role="viewer")
    assert client.post(f"/api/v1/deliveries/{sms[0]['id']}/retry",
                       headers=viewer).status_code == 403


def _csrf(html: str) -> str:
    """The form's CSRF token."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_settings_form_refuses_a_bad_number_beside_the_field(client, auth, make, db):
    wallet = make.wallet("100.00")
    user = make.resident(wallet, email="form@example.test")
    auth.login(user.email)
    page = client.get("/me/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Low credit by SMS" in html and "Alert channels" in html
    form = {"csrf_token": _csrf(html), "email": "form-alerts@example.test",
            "phone": "021 555 1234", "quiet_start": "21:00", "quiet_end": "07:00",
            "critical_credit__email": "y", "critical_credit__sms": "y"}
    r = client.post("/me/settings", data=form, headers=HX)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert re.search(r'id="settings-phone"[^>]*aria-invalid="true"', body)
    assert 'id="settings-phone-error"' in body and "082 123 4567" in body
    assert db.get(Person, user.person_id).email is None  # nothing was saved
    form["phone"] = "082 555 1234"
    r = client.post("/me/settings", data=form, headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    db.expire_all()
    person = db.get(Person, user.person_id)
    assert (person.email, person.phone) == ("form-alerts@example.test", "+27825551234")
    form.pop("critical_credit__email"), form.pop("critical_credit__sms")
    r = client.post("/me/settings", data=form, headers=HX)
    assert r.status_code == 422 and "Critical credit alerts must go" in r.get_data(as_text=True)


def test_operators_edit_a_residents_contact_on_the_wallet_page(client, auth, make, db):
    wallet = make.wallet("100.00")
    user = make.resident(wallet)
    op = make.user("operator")
    auth.login(op.email)
    html = client.get(f"/wallets/{wallet.id}").get_data(as_text=True)
    assert "Residents&#39; contact details" in html or "Residents' contact details" in html
    url = f"/wallets/{wallet.id}/residents/{user.person_id}/contact"
    r = client.post(url, data={"csrf_token": _csrf(html), "email": "x@example.test",
                               "phone": "nonsense"}, headers=HX)
    assert r.status_code == 422 and 'aria-invalid="true"' in r.get_data(as_text=True)
    r = client.post(url, data={"csrf_token": _csrf(html), "email": "x@example.test",
                               "phone": "083 000 1111"}, headers=HX)
    assert r.status_code == 200
    db.expire_all()
    assert db.get(Person, user.person_id).phone == "+27830001111"
    stranger = make.resident(make.wallet())
    r = client.post(f"/wallets/{wallet.id}/residents/{stranger.person_id}/contact",
                    data={"csrf_token": _csrf(html), "email": "", "phone": ""}, headers=HX)
    assert r.status_code == 404


def test_the_deliveries_page_lists_and_retries(client, auth, make, db):
    wallet = make.wallet("5.00")
    make.resident(wallet)
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.execute(update(D).where(D.channel == "sms").values(status="failed", error="HTTP 400"))
    db.commit()
    op = make.user("operator")
    auth.login(op.email)
    html = client.get("/deliveries?status=failed").get_data(as_text=True)
    assert "Retry" in html and "HTTP 400" in html and "No email address" not in html
    sms_id = db.scalar(D.__table__.select().with_only_columns(D.id).where(D.channel == "sms"))
    r = client.post(f"/deliveries/{sms_id}/retry", data={"csrf_token": _csrf(html)}, headers=HX)
    assert r.status_code == 200 and "will be sent again" in r.get_data(as_text=True)
    db.expire_all()
    assert db.get(D, sms_id).status == "pending"
    r = client.post(f"/deliveries/{sms_id}/retry", data={"csrf_token": _csrf(html)}, headers=HX)
    assert r.status_code == 409
    assert client.get("/deliveries?channel=fax").status_code == 422
    assert client.get("/outbox").status_code == 200  # testing: the development page exists
