"""Webhooks through the API and the Webhooks page: who may do what, the secret shown once,
the forms' errors beside their fields, enable/disable/delete and Resend."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from dashboard.db import write_transaction
from dashboard.models import WebhookEndpoint, WebhookMessage, utcnow
from dashboard.services import webhooks
from dashboard.services.scans import runs as task_runs
from tests import factories
from tests.conftest import csrf_from

URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def op(db, client):
    """Bearer headers of an operator."""
    return factories.operator_and_token(db, client)


def test_register_shows_the_secret_once(client, op):
    """201 with the whsec_ secret; the list, the attempts and a delete never show it."""
    r = client.post("/api/v1/webhooks", json={"url": URL, "events": ["task_run.finished"]},
                    headers=op)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["task_run.finished"] and body["url"] == URL
    listed = client.get("/api/v1/webhooks", headers=op)
    assert listed.status_code == 200
    assert body["secret"] not in listed.get_data(as_text=True)
    assert [e["id"] for e in listed.get_json()["items"]] == [body["id"]]
    assert "secret" not in listed.get_json()["items"][0]
    attempts = client.get(f"/api/v1/webhooks/{body['id']}/attempts", headers=op)
    assert attempts.status_code == 200 and attempts.get_json() == {"items": [],
                                                                   "next_cursor": None}
    deleted = client.delete(f"/api/v1/webhooks/{body['id']}", headers=op)
    assert deleted.status_code == 200 and body["secret"] not in deleted.get_data(as_text=True)
    assert client.get("/api/v1/webhooks", headers=op).get_json()["items"] == []
    assert client.delete(f"/api/v1/webhooks/{body['id']}", headers=op).status_code == 404


@pytest.mark.parametrize("payload,field", [
    ({"url": "ftp://127.0.0.1/x", "events": ["task_run.finished"]}, "url"),
    ({"url": "http://crm.example.com/x", "events": ["task_run.finished"]}, "url"),  # testing
    ({"url": URL, "events": []}, "events"),
    ({"url": URL, "events": ["payment.made"]}, "events"),
    ({"url": URL, "events": "task_run.finished"}, "events"),
])
def test_bad_registrations_are_422_naming_the_field(client, op, payload, field):
    """A bad URL (the test configuration allows loopback receivers only) or bad events."""
    r = client.post("/api/v1/webhooks", json=payload, headers=op)
    assert r.status_code == 422 and field in r.get_json()["error"]["fields"], r.get_json()


def test_bodies_that_are_not_the_documented_object_are_refused(client, op):
    """Not an object: 400; an unknown field: 422 naming it; nothing registered."""
    r = client.post("/api/v1/webhooks", json=[None, None], headers=op)
    assert r.status_code == 400
    r = client.post("/api/v1/webhooks", json={"url": URL, "events": ["task_run.finished"],
                                              "secret": "whsec_mine"}, headers=op)
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"secret": "Unknown field."}
    assert client.get("/api/v1/webhooks", headers=op).get_json()["items"] == []


def test_viewers_read_but_cannot_register_or_delete(db, client, op):
    """A viewer lists endpoints and attempts; registering and deleting are 403."""
    made = client.post("/api/v1/webhooks", json={"url": URL, "events": ["task_run.finished"]},
                       headers=op).get_json()
    viewer = factories.operator_and_token(db, client, role="viewer")
    assert client.get("/api/v1/webhooks", headers=viewer).status_code == 200
    assert client.get(f"/api/v1/webhooks/{made['id']}/attempts",
                      headers=viewer).status_code == 200
    r = client.post("/api/v1/webhooks", json={"url": URL, "events": ["task_run.finished"]},
                    headers=viewer)
    assert r.status_code == 403
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=viewer).status_code == 403
    assert db.scalar(select(WebhookEndpoint.id)) == made["id"]


def test_residents_get_404_everywhere(db, client, make, auth, op):
    """API and pages alike: a resident learns nothing about webhooks."""
    made = client.post("/api/v1/webhooks", json={"url": URL, "events": ["task_run.finished"]},
                       headers=op).get_json()
    wallet = make.wallet()
    resident = make.resident(wallet)
    token = auth.token(resident.email)
    for method, path in [("GET", "/api/v1/webhooks"), ("POST", "/api/v1/webhooks"),
                         ("DELETE", f"/api/v1/webhooks/{made['id']}"),
                         ("GET", f"/api/v1/webhooks/{made['id']}/attempts")]:
        r = client.open(path, method=method, headers=token,
                        json={"url": URL, "events": ["task_run.finished"]})
        assert r.status_code == 404, (method, path)
    auth.login(resident.email)
    assert client.get("/webhooks").status_code == 404
    assert client.get(f"/webhooks/{made['id']}").status_code == 404


# -- the page ---------------------------------------------------------------------------------

def _post(client, auth, path, data):
    """A form post with the page's CSRF token."""
    return client.post(path, data={**data, "csrf_token": auth.csrf})


def test_the_page_registers_and_shows_the_secret_once(db, client, make, auth):
    """Operators find Webhooks in the navigation, register an endpoint and see its secret on
    the answer; the page afterwards (or anyone's) never shows it again."""
    operator = make.user("operator")
    auth.login(operator.email)
    page = client.get("/webhooks").get_data(as_text=True)
    assert 'href="/webhooks"' in page and "Register an endpoint" in page
    r = _post(client, auth, "/webhooks", {"url": URL, "events": ["task_run.finished",
                                                                 "notification.created"]})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(whsec_[^"]+)"', r.get_data(as_text=True)).group(1)
    stored = db.scalars(select(WebhookEndpoint)).one()
    assert stored.events == ["notification.created", "task_run.finished"]
    again = client.get("/webhooks").get_data(as_text=True)
    assert URL in again and secret not in again and "whsec_" not in again
    assert secret not in client.get(f"/webhooks/{stored.id}").get_data(as_text=True)


def test_the_form_puts_errors_beside_the_fields(db, client, make, auth):
    """A bad URL and no event: 422, each error tied to its field, nothing registered."""
    auth.login(make.user("operator").email)
    r = _post(client, auth, "/webhooks", {"url": "ftp://x"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="webhook-url-error"' in html and 'id="webhook-events-error"' in html
    assert 'aria-describedby="webhook-url-hint webhook-url-error"' in html
    assert db.scalar(select(WebhookEndpoint.id)) is None


def test_viewers_see_the_page_without_forms_and_cannot_post(db, client, make, auth):
    """A viewer reads the list; the form is absent and its post is 403."""
    webhooks.register(db, URL, ["task_run.finished"], rules=webhooks.UrlRules(), key="k",
                      user_id=None, now=utcnow())
    viewer = make.user("viewer")
    auth.login(viewer.email)
    page = client.get("/webhooks").get_data(as_text=True)
    assert URL in page and "Register an endpoint" not in page and "Disable" not in page
    assert _post(client, auth, "/webhooks", {"url": URL,
                                             "events": ["task_run.finished"]}).status_code == 403
    endpoint_id = db.scalar(select(WebhookEndpoint.id))
    assert _post(client, auth, f"/webhooks/{endpoint_id}/delete", {}).status_code == 403


def test_disable_enable_delete_and_resend_from_the_pages(db, client, make, auth):
    """Operators disable and enable an endpoint, resend a message (a new attempt is queued)
    and delete the endpoint with its log."""
    made = webhooks.register(db, URL, ["task_run.finished"], rules=webhooks.UrlRules(),
                             key="k", user_id=None, now=utcnow())
    run = task_runs.create_run(db, "analyze_high_usage", "manual")
    with write_transaction(db):
        task_runs.fail(db, run.id, "x")
    message = db.scalars(select(WebhookMessage)).one()
    auth.login(make.user("operator").email)
    eid = made.endpoint.id
    page = client.get(f"/webhooks/{eid}").get_data(as_text=True)
    assert f"msg_{message.id}" in page and "Resend" in page and "task_run.finished" in page
    r = _post(client, auth, f"/webhooks/{eid}/disable", {"back": "endpoint"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/webhooks/{eid}")
    assert db.get(WebhookEndpoint, eid, populate_existing=True).enabled is False
    r = _post(client, auth, f"/webhooks/messages/{message.id}/resend", {})
    assert "disabled" in client.get(r.headers["Location"]).get_data(as_text=True)
    _post(client, auth, f"/webhooks/{eid}/enable", {})
    assert db.get(WebhookEndpoint, eid, populate_existing=True).enabled is True
    r = _post(client, auth, f"/webhooks/messages/{message.id}/resend", {})
    assert r.status_code == 303
    leased = db.get(WebhookMessage, message.id, populate_existing=True)
    assert leased.status == "pending" and leased.lease_token  # its task was queued
    _post(client, auth, f"/webhooks/{eid}/delete", {})
    assert db.scalar(select(WebhookEndpoint.id)) is None
    assert db.scalar(select(WebhookMessage.id)) is None
    assert csrf_from(client.get("/webhooks").get_data(as_text=True))
