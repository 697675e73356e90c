"""Security: who may reach what, CSRF, escaping, cookies, headers, passwords, secrets.

The authorization matrix walks `app.url_map`, so a route added tomorrow is in it without
anyone listing it: each route gets a policy from its blueprint (operator pages are staff-only,
/me/ pages are the resident's own), the JSON API's routes from POLICIES, and a route with no
policy fails the test until somebody decides who may use it. Every cell is a real request
from one of five identities (anonymous, resident A, resident B, viewer, operator) with valid
path arguments and a valid body, so the only reason to refuse is who is asking.

The data is hostile on purpose: resident A is called `<script>alert(1)</script>`, the estate
and the unit carry markup too, and every HTML answer of the matrix is checked to show them
escaped, never as markup (the browser test in tests/e2e/test_xss.py does the same in
Chromium, toasts included).
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from dashboard.db import Base
from dashboard.models import Meter, NotificationDelivery, TaskRun, utcnow
from dashboard.services.accounts.passwords import check_password_rules
from tests import factories, provider
from tests.conftest import Auth

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_ESTATE = "<script>alert('estate')</script>"
HOSTILE_UNIT = "<svg onload=alert()>"  # units.number holds 20 characters
IDENTITIES = ("anonymous", "resident_a", "resident_b", "viewer", "operator")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

WEBHOOK_URL = "http://127.0.0.1:9/hooks"

# -- policies --------------------------------------------------------------------------------------

PUBLIC = "public"                  # anybody, signed in or not
SIGNED_IN = "signed_in"            # any signed-in user (their own view of it)
STAFF_READ = "staff_read"          # operators and viewers; residents 404
STAFF_ACTION = "staff_action"      # operators; viewers 403; residents 404
RESIDENT_PAGE = "resident_page"    # residents, about their own things; staff 404
WALLET_READ = "wallet_read"        # staff, and the wallet's own residents; other residents 404
WALLET_ACTION = "wallet_action"    # operators and the wallet's residents; viewers 403
OWN_NOTIFICATION = "own_notification"  # staff, and the notification's recipients
OWN_PAYMENT = "own_payment"        # staff, and the resident who started the payment
SIGNED_WEBHOOK = "signed_webhook"  # the payment provider's signature only: 401 for everybody
OPERATOR_ONLY = "operator_only"    # operators, even to look; viewers 403; residents 404

#: The JSON API mixes policies, so each of its routes is named; a new one must be added here.
POLICIES = {
    "api.auth_token": PUBLIC, "api.openapi_json": PUBLIC,
    "api.list_wallets": SIGNED_IN, "api.get_wallet": WALLET_READ,
    "api.list_transactions": WALLET_READ, "api.patch_wallet": WALLET_ACTION,
    "api.create_topup": WALLET_ACTION, "api.create_purchase": WALLET_ACTION,
    "api.create_reading": STAFF_ACTION, "api.list_scans": STAFF_READ,
    "api.run_scan": STAFF_ACTION, "api.list_task_runs": STAFF_READ,
    "api.get_task_run": STAFF_READ, "api.list_notifications": SIGNED_IN,
    "api.unread_count": SIGNED_IN, "api.mark_all_read": SIGNED_IN,
    "api.mark_read": OWN_NOTIFICATION,
    "api.get_me": SIGNED_IN, "api.patch_me": SIGNED_IN, "api.get_preferences": SIGNED_IN,
    "api.put_preferences": SIGNED_IN, "api.notification_deliveries": OWN_NOTIFICATION,
    "api.list_deliveries": STAFF_READ, "api.retry_delivery": STAFF_ACTION,
    "api.get_payment": OWN_PAYMENT, "api.payment_webhook": SIGNED_WEBHOOK,
    "api.list_webhooks": STAFF_READ, "api.create_webhook": STAFF_ACTION,
    "api.delete_webhook": STAFF_ACTION, "api.list_webhook_attempts": STAFF_READ,
    "auth.login_page": PUBLIC, "auth.logout": SIGNED_IN, "static": PUBLIC,
}
STAFF_BLUEPRINTS = {"overview", "wallets", "scans", "notifications_log", "thresholds",
                    "deliveries", "contacts", "outbox", "webhooks"}


def policy(endpoint: str, method: str) -> str:
    """Who may use a route: named above, else by blueprint."""
    if endpoint in POLICIES:
        return POLICIES[endpoint]
    blueprint = endpoint.split(".", 1)[0]
    if blueprint == "ops":
        return PUBLIC
    if blueprint == "users":  # account administration: not even viewers look
        return OPERATOR_ONLY
    if blueprint in STAFF_BLUEPRINTS:
        return STAFF_ACTION if method in UNSAFE else STAFF_READ
    if blueprint in ("resident", "settings", "gateway"):  # gateway: the payer's own payments
        return RESIDENT_PAGE
    raise AssertionError(f"{endpoint} ({method}) has no policy: add it to POLICIES")


def expected(policy_name: str, identity: str, owns: bool) -> str:
    """'allow', 'login' (302 to sign-in), 401, 403 or 404 for one cell.

    `owns`: the path names resident A's wallet or notification, so resident B is a stranger.
    """
    api = policy_name in (WALLET_READ, WALLET_ACTION, OWN_NOTIFICATION, OWN_PAYMENT)
    if policy_name == PUBLIC:
        return "allow"
    if policy_name == SIGNED_WEBHOOK:
        return "401"  # no session or token stands in for the provider's signature
    if identity == "anonymous":
        return "login"  # turned into 401 for /api/ paths below
    staff = identity in ("viewer", "operator")
    stranger = identity == "resident_b" and owns
    if policy_name == SIGNED_IN:
        return "allow"
    if policy_name == STAFF_READ:
        return "allow" if staff else "404"
    if policy_name in (STAFF_ACTION, OPERATOR_ONLY):
        return {"operator": "allow", "viewer": "403"}.get(identity, "404")
    if policy_name == RESIDENT_PAGE:
        return "404" if staff or stranger else "allow"
    if api and stranger:
        return "404"
    if policy_name == WALLET_ACTION and identity == "viewer":
        return "403"
    return "allow"


# -- the site under test ---------------------------------------------------------------------------

#: A valid estate hours form (friendly hours, zone, meter silence, SMS delay).
HOURS_FORM = {"friendly_hours": "1", "friendly_start": "18:00", "friendly_end": "07:00",
              "friendly_weekends": "1", "friendly_holidays": "1", "timezone": "",
              "meter_silent_hours": "48", "sms_delay_minutes": "0"}


class Site:
    """Two residents' wallets, staff, hostile names, and a signed-in client per identity."""

    def __init__(self, app, db):
        """Make the data and sign everyone in (sessions for pages, tokens for the API)."""
        from dashboard.services import payments
        from dashboard.services.payments import transactions
        from dashboard.services.payments.notices import notify_transaction

        self.app, self.db = app, db
        estate = factories.estate(db, name=HOSTILE_ESTATE)
        self.wallet_a = factories.wallet(db, "1000.00", estate_obj=estate, meters=True)
        self.wallet_a.unit.number = HOSTILE_UNIT
        self.wallet_b = factories.wallet(db, "1000.00", estate_obj=estate)
        a = factories.resident(db, self.wallet_a, email="matrix-a@example.test",
                               name=(HOSTILE_NAME, "<b>Bold</b>"))
        factories.resident(db, self.wallet_b, email="matrix-b@example.test")
        factories.user(db, "viewer", email="matrix-viewer@example.test")
        factories.user(db, "operator", email="matrix-op@example.test")
        # The Users page's actions act on an account of nobody in the matrix.
        target = factories.user(db, "viewer", email="matrix-target@example.test")
        run = TaskRun(task="check_low_credit_wallets", trigger="manual", state="succeeded")
        db.add(run)
        db.commit()
        tx = transactions.top_up(db, self.wallet_a.id, "5.00", "card", now=utcnow(),
                                 user_id=a.id).transaction
        (self.notification_id,) = notify_transaction(db, tx.id, utcnow())
        self.failed_sms = NotificationDelivery(notification_id=self.notification_id,
                                               user_id=a.id, channel="sms", status="failed",
                                               address="+27821234567", error="HTTP 400")
        db.add(self.failed_sms)
        db.commit()
        payment = payments.start_payment(db, self.wallet_a.id, "5.00", "card", now=utcnow(),
                                         user_id=a.id).payment
        self.args = {
            "wallet_id": self.wallet_a.id, "notification_id": self.notification_id,
            "run_id": run.id, "estate_id": estate.id, "name": "check_low_credit_wallets",
            "meter_id": db.scalar(select(Meter.id).where(Meter.unit_id == self.wallet_a.unit_id)),
            "filename": "js/app.js", "delivery_id": self.failed_sms.id,
            "person_id": a.person_id,
            "payment_id": payment.id,
            "user_id": target.id,
        }
        self.emails = {"resident_a": "matrix-a@example.test",
                       "resident_b": "matrix-b@example.test",
                       "viewer": "matrix-viewer@example.test", "operator": "matrix-op@example.test"}
        # Anonymous visitors get a CSRF token with the sign-in page: with it, only their
        # being signed out can refuse them.
        self.pages = {"anonymous": self.anonymous()}
        self.tokens = {"anonymous": {}}
        for identity, email in self.emails.items():
            self.pages[identity] = self.sign_in(email)
            token = app.test_client().post("/api/v1/auth/token", json={
                "email": email, "password": "correct-horse-battery"}).get_json()["token"]
            self.tokens[identity] = {"Authorization": f"Bearer {token}"}
        self.reading = 100
        self.ensure_webhook()

    def ensure_webhook(self) -> None:
        """An endpoint with one message for the webhook routes (made again after a route
        deleted it)."""
        from dashboard.models import WebhookEndpoint, WebhookMessage
        from dashboard.services import webhooks

        self.db.rollback()
        if self.db.get(WebhookEndpoint, self.args.get("endpoint_id", 0)) is not None:
            return
        made = webhooks.register(self.db, WEBHOOK_URL, ["task_run.finished"],
                                 rules=webhooks.UrlRules(), key="k", user_id=None,
                                 now=utcnow())
        message = WebhookMessage(endpoint_id=made.endpoint.id, event="task_run.finished",
                                 object_id=self.args["run_id"], expires_at=utcnow())
        self.db.add(message)
        self.db.commit()
        self.args.update(endpoint_id=made.endpoint.id, message_id=message.id)

    def anonymous(self) -> Auth:
        """A fresh signed-out visitor with the CSRF token of the sign-in page."""
        from tests.conftest import csrf_from

        visitor = Auth(self.app.test_client())
        visitor.csrf = csrf_from(visitor.client.get("/login").get_data(as_text=True))
        return visitor

    def sign_in(self, email: str) -> Auth:
        """A fresh browser session through the sign-in form."""
        page = Auth(self.app.test_client())
        assert page.login(email).status_code == 302
        return page

    def body(self, endpoint: str, identity: str = "operator") -> dict:
        """A valid body for an unsafe route (JSON for the API, form fields for pages), as
        `identity` would send it (residents pay by card, the office in cash)."""
        key = uuid.uuid4().hex
        if endpoint == "api.create_reading":
            self.reading += 10
            return {"reading": str(self.reading)}
        return {
            "api.auth_token": {"email": "matrix-op@example.test",
                               "password": "correct-horse-battery"},
            "api.create_topup": {"amount": "1.00", "method": "card" if "resident" in identity
                                 else "cash"},
            "api.create_purchase": {"utility": "electricity", "amount": "1.00"},
            "api.create_webhook": {"url": WEBHOOK_URL, "events": ["task_run.finished"]},
            "webhooks.register": {"url": WEBHOOK_URL, "events": "task_run.finished"},
            "api.patch_wallet": {"low_balance_days": 4},
            "auth.login_page": {"email": "matrix-op@example.test",
                                "password": "correct-horse-battery"},
            "wallets.save_settings": {"low_balance_threshold": "40.00", "alert_mode": "amount",
                                      "low_balance_days": "3", "alert_frequency_hours": "24"},
            "wallets.preview_settings": {"low_balance_threshold": "40.00",
                                         "alert_mode": "amount", "low_balance_days": "3",
                                         "alert_frequency_hours": "24"},
            "wallets.top_up": {"amount": "1.00", "method": "cash", "idempotency_key": key},
            "wallets.purchase": {"amount": "1.00", "utility": "water", "idempotency_key": key},
            "wallets.purchase_preview": {"amount": "1.00", "utility": "water"},
            "thresholds.preview": {"estate_id": str(self.args["estate_id"]), "scope": "all",
                                   "low_balance_days": "3"},
            "thresholds.apply": {"estate_id": str(self.args["estate_id"]), "scope": "all",
                                 "low_balance_days": "3"},
            "thresholds.save_estate": {
                "low_balance_threshold": "50.00", "alert_mode": "amount",
                "low_balance_days": "3", "alert_frequency_hours": "24",
                "min_low_balance_threshold": "0.00", "max_low_balance_threshold": "2000.00"},
            "thresholds.save_hours": HOURS_FORM,
            "thresholds.preview_hours": HOURS_FORM,
            "resident.topup": {"amount": "1.00", "method": "card", "idempotency_key": key},
            "resident.buy": {"amount": "1.00", "utility": "electricity",
                             "idempotency_key": key},
            "resident.alerts": {"alert_mode": "amount", "low_balance_threshold": "40.00",
                                "low_balance_days": "3"},
            "settings.save": {"email": "", "phone": "", "quiet_start": "21:00",
                              "quiet_end": "07:00"},
            "contacts.save": {"email": "", "phone": ""},
            "gateway.decide": {"outcome": "pay"},
            "users.set_password": {"password": "a new sound passphrase",
                                   "confirm": "a new sound passphrase"},
        }.get(endpoint, {})

    def end_active_runs(self) -> None:
        """Finish queued runs (their tasks go to a broker nobody reads), so Run now can
        start another."""
        self.db.rollback()
        self.db.execute(update(TaskRun).where(TaskRun.state.in_(("queued", "running")))
                        .values(state="failed"))
        self.db.commit()

    def fail_delivery(self) -> None:
        """The delivery Retry is tried on is failed again (an earlier cell retried it)."""
        self.db.rollback()
        self.db.execute(update(NotificationDelivery).where(
            NotificationDelivery.id == self.failed_sms.id).values(status="failed"))
        self.db.commit()

    def request(self, identity: str, rule, method: str, *, csrf: bool = True,
                client: Auth | None = None):
        """One request of the matrix: the route with A's ids, a valid body, and the
        identity's credentials (a bearer token for /api/, else the browser session)."""
        if {"endpoint_id", "message_id"} & set(rule.arguments):
            self.ensure_webhook()
        url = self.url(rule)
        endpoint = rule.endpoint
        if endpoint.endswith("run_scan") or endpoint.endswith("run_now"):
            self.end_active_runs()
        if endpoint.endswith("retry_delivery") or endpoint == "deliveries.retry":
            self.fail_delivery()
        body = self.body(endpoint, identity)
        page = client or self.pages[identity]
        if identity == "anonymous" and endpoint == "auth.login_page" and method == "POST":
            page = self.anonymous()  # signing in must not turn the shared visitor into staff
        if rule.rule.startswith("/api/"):
            # As a script calls it: the bearer token and no cookie.
            api = self.app.test_client()
            headers = dict(self.tokens[identity])
            if method in UNSAFE:
                return api.open(url, method=method, json=body, headers=headers)
            return api.open(url, method=method, headers=headers)
        if method in UNSAFE and csrf and page.csrf:
            body = {**body, "csrf_token": page.csrf}
        return page.client.open(url, method=method, data=body)

    def url(self, rule) -> str:
        """The rule's URL with the site's ids."""
        missing = set(rule.arguments) - set(self.args)
        assert not missing, f"{rule.rule}: no fixture value for {missing}; add one to Site.args"
        from werkzeug.routing import MapAdapter

        adapter: MapAdapter = self.app.url_map.bind("localhost")
        return adapter.build(rule.endpoint, {a: self.args[a] for a in rule.arguments},
                             method=next(iter(rule.methods - {"HEAD", "OPTIONS"})))


@pytest.fixture(scope="module")
def site(redis_url, tmp_path_factory):
    """One app and its data for the module (templates compile once)."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config, fast_database, private_broker_url

    url = fast_database(tmp_path_factory.mktemp("security"))
    app = create_app("testing", **app_config(url, redis_url,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    yield Site(app, Session)
    Session.remove()


def rules(app):
    """Every (rule, method) of the app, in a stable order."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


class Tags(HTMLParser):
    """Collects what the CSP would block or what would run: inline scripts, event-handler
    attributes, style attributes, javascript: URLs, and any <script> or handler that came
    from the data instead of the templates."""

    def __init__(self):
        """Nothing found yet."""
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        """Check one start tag."""
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script":
            self._in_script = True
            if not names.get("src", "").startswith("/static/"):
                self.problems.append(f"script without our src: {attrs}")
        for name, value in names.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name == "style":
                self.problems.append(f"<{tag} style=...>")
            if name in ("href", "src", "action") and value.strip().lower().startswith(
                    "javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")
        if tag in ("img", "b", "iframe", "object", "embed") and "alert" in repr(attrs):
            self.problems.append(f"markup from the data: <{tag} {attrs}>")

    def handle_endtag(self, tag):
        """Leave a script."""
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        """Script bodies must be empty (our scripts are files)."""
        if self._in_script and data.strip():
            self.problems.append(f"inline script body: {data[:40]!r}")


def check_response_hygiene(response) -> None:
    """Headers on everything; for HTML, no inline script, no markup from the hostile data."""
    csp = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "unsafe" not in csp, response.headers
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    if response.mimetype != "text/html":
        return
    html = response.get_data(as_text=True)
    tags = Tags()
    tags.feed(html)
    assert not tags.problems, (response.request.path, tags.problems[:3])
    for payload in (HOSTILE_NAME, HOSTILE_ESTATE, HOSTILE_UNIT, "<b>Bold</b>"):
        assert payload not in html, f"unescaped {payload!r} in {response.request.path}"


# -- the matrix ------------------------------------------------------------------------------------

def test_authorization_matrix(site):
    """Every route × anonymous, resident A, resident B, viewer, operator: anonymous goes to
    sign-in (pages) or gets 401 (API); residents get 404 for staff pages and for A's things
    when they are B; viewers get 403 on actions; allowed identities get their 2xx/3xx. Every
    answer carries the security headers and escapes the hostile names."""
    failures, cells, escaped_seen = [], 0, 0
    for rule, method in rules(site.app):
        if rule.endpoint == "auth.logout":
            continue  # ends the session: test_logout_matrix
        owns = bool({"wallet_id", "notification_id", "payment_id"} & set(rule.arguments))
        name = policy(rule.endpoint, method)
        for identity in IDENTITIES:
            want = expected(name, identity, owns)
            if want == "login" and rule.rule.startswith("/api/"):
                want = "401"
            r = site.request(identity, rule, method)
            cells += 1
            got = outcome(r)
            if got != want:
                failures.append(f"{method} {rule.rule} as {identity}: want {want}, got "
                                f"{r.status_code} {r.headers.get('Location', '')} "
                                f"{r.get_data(as_text=True)[:120]!r}")
            check_response_hygiene(r)
            escaped_seen += "&lt;script&gt;alert(1)&lt;/script&gt;" in r.get_data(as_text=True)
    assert not failures, f"{len(failures)} of {cells} cells wrong:\n" + "\n".join(failures)
    assert cells > 250 and escaped_seen >= 5  # the hostile name really was on pages


def outcome(response) -> str:
    """A response as a matrix cell value."""
    status = response.status_code
    if status in (301, 302, 303) and "/login" in response.headers.get("Location", ""):
        return "login"
    if status in (401, 403, 404):
        return str(status)
    if 200 <= status < 400:
        return "allow"
    return f"unexpected {status}"


def test_logout_matrix(site):
    """POST /logout: anonymous is sent to sign-in; each signed-in identity is signed out
    (its next page load goes to sign-in too)."""
    rule = next(r for r in site.app.url_map.iter_rules() if r.endpoint == "auth.logout")
    anonymous = site.request("anonymous", rule, "POST")
    assert outcome(anonymous) == "login"
    for identity, email in site.emails.items():
        page = site.sign_in(email)
        r = site.request(identity, rule, "POST", client=page)
        assert r.status_code == 302 and "/login" in r.headers["Location"], identity
        assert outcome(page.client.get("/me/" if "resident" in identity else "/")) == "login"


def test_resident_b_never_sees_resident_a_in_lists(site):
    """The list routes a resident may use (wallets, notifications) leave A's things out for
    B, and B's unread count does not include A's notification."""
    b = site.tokens["resident_b"]
    client = site.app.test_client()
    wallets = client.get("/api/v1/wallets", headers=b).get_json()["items"]
    assert site.wallet_a.id not in [w["id"] for w in wallets] and len(wallets) == 1
    notices = client.get("/api/v1/notifications", headers=b).get_json()["items"]
    assert site.notification_id not in [n["id"] for n in notices]
    inbox = site.pages["resident_b"].client.get("/me/notifications").get_data(as_text=True)
    assert "alert(1)" not in inbox and "Top-up received" not in inbox


def test_ids_beyond_64_bits_are_404_not_500(site):
    """Every route with an integer in its path, given a 30-digit id: 404 (or 401 / sign-in
    for anonymous), never the database driver's OverflowError as a 500."""
    known = {"wallets.", "scans.run_detail", "thresholds."}  # operator dashboard: reported
    failures = []
    for rule, method in rules(site.app):
        ints = [a for a, conv in rule._converters.items()
                if type(conv).__name__ == "IntegerConverter"]
        if not ints:
            continue
        saved = dict(site.args)
        site.args.update({a: 10**30 for a in ints})
        try:
            for identity in ("operator", "resident_a"):
                try:
                    r = site.request(identity, rule, method)
                except Exception as exc:  # the URL cannot even be built: bounded converter
                    assert "max" in repr(rule._converters) or "ValidationError" in repr(exc)
                    continue
                if r.status_code >= 500 and not any(rule.endpoint.startswith(k) for k in known):
                    failures.append(f"{method} {rule.rule} as {identity}: {r.status_code}")
        finally:
            site.args.update(saved)
    assert not failures, failures


@pytest.mark.parametrize("path", ["/wallets/{big}", "/wallets/{big}/summary",
                                  "/scans/runs/{big}", "/thresholds/estates/{big}",
                                  "/users/{big}"])
def test_operator_pages_with_ids_beyond_64_bits(site, path):
    """The operator dashboard's id routes with a 30-digit id: 404."""
    r = site.pages["operator"].client.get(path.format(big=10**30))
    assert r.status_code == 404, r.status_code


# -- CSRF ------------------------------------------------------------------------------------------

def csrf_identity(rule) -> str:
    """A signed-in identity that may use the route (so only CSRF can refuse it)."""
    return "resident_a" if rule.endpoint.startswith("resident.") else "operator"


def test_every_unsafe_route_needs_the_csrf_token_on_a_session(site):
    """Every POST/PATCH/PUT/DELETE route on a browser session, without the token and with a
    forged one: 400 `csrf_failed`, and nothing written. The token endpoint is exempt (it
    has no session to ride on); bearer-token API calls carry no cookie and need none."""
    from dashboard.db import Session

    def snapshot():
        Session.rollback()
        return {t.name: Session.execute(select(t)).all() for t in Base.metadata.sorted_tables}

    checked = []
    for rule, method in rules(site.app):
        if method not in UNSAFE or rule.endpoint in ("api.auth_token", "api.payment_webhook"):
            continue  # no session to ride on; the webhook's signature is its authentication
        identity = csrf_identity(rule)
        page = site.pages[identity]  # refused requests leave the session as it was
        url = site.url(rule)
        body = site.body(rule.endpoint)
        before = snapshot()
        for headers, data in (({}, body), ({"X-CSRFToken": "forged"}, body),
                              ({}, {**body, "csrf_token": "forged"}),
                              ({"HX-Request": "true"}, body)):
            if rule.rule.startswith("/api/"):
                r = page.client.open(url, method=method, json=data, headers=headers)
            else:
                r = page.client.open(url, method=method, data=data, headers=headers)
            assert r.status_code == 400, (method, rule.rule, headers, r.status_code)
            assert "security token" in r.get_data(as_text=True), rule.rule
        assert snapshot() == before, f"{method} {rule.rule} wrote without a CSRF token"
        checked.append(rule.endpoint)
    assert len(checked) >= 20 and "auth.login_page" in checked


def test_a_session_cannot_skip_csrf_by_adding_a_bearer_header(site):
    """A cookie session plus a junk `Authorization: Bearer` header still needs the CSRF
    token: the header alone must not switch the check off."""
    page = site.sign_in(site.emails["operator"])
    r = page.client.post("/api/v1/scans/check_low_credit_wallets/run",
                         headers={"Authorization": "Bearer junk"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "csrf_failed", r.get_json()
    site.end_active_runs()
    r = page.client.post(f"/api/v1/wallets/{site.wallet_a.id}/topups",
                         json={"amount": "1.00", "method": "cash"},
                         headers={"Authorization": "Bearer junk"})
    assert r.status_code == 400


def test_bearer_token_calls_need_no_csrf_token(site):
    """Scripts with a token have no cookie for a forged request to ride on."""
    site.end_active_runs()
    client = site.app.test_client()
    r = client.post("/api/v1/scans/check_low_credit_wallets/run", headers=site.tokens["operator"])
    assert r.status_code == 202, r.get_json()


# -- cookies, headers, sign-in ---------------------------------------------------------------------

def session_cookie(response) -> str:
    """The Set-Cookie header of the session cookie."""
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax(site):
    """The session cookie set at sign-in: HttpOnly, SameSite=Lax; not Secure in development
    (plain http on localhost)."""
    client = site.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_from

    r = client.post("/login", data={"email": "matrix-op@example.test",
                                    "password": "correct-horse-battery",
                                    "csrf_token": csrf_from(page)})
    cookie = session_cookie(r).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_production_refuses_the_default_secret(monkeypatch, tmp_path):
    """create_app in production with the development secret (or none) does not start."""
    from dashboard import create_app

    for secret in ("dev-insecure-secret-change-me", None, "short"):
        if secret is None:
            monkeypatch.delenv("SECRET_KEY", raising=False)
        else:
            monkeypatch.setenv("SECRET_KEY", secret)
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app("production", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")


def test_content_security_policy_allows_only_our_own_scripts(site):
    """The CSP: scripts, styles, fonts and everything else from our origin only; no inline
    script or eval; no plugins; no framing; forms post to us; sockets back to us."""
    r = site.app.test_client().get("/login")
    csp = {d.split()[0]: d.split()[1:] for d in
           r.headers["Content-Security-Policy"].split(";") if d.strip()}
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert r.headers["Referrer-Policy"] == "same-origin"
    for bad in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"):
        assert bad not in csp["script-src"]
    # Error pages and JSON carry the headers too.
    for path in ("/no-such-page", "/api/v1/no-such", "/static/js/app.js", "/healthz"):
        check_response_hygiene(site.app.test_client().get(path))


def test_login_rate_limit_counts_the_form_and_the_api_together(site):
    """Failed sign-ins of one email are counted across the form and the token endpoint;
    past the limit both answer 429, even with the right password, and unknown emails are
    limited the same way (no hint which accounts exist)."""
    app = site.app
    old = app.config["LOGIN_ACCOUNT_FREE"], app.config["LOGIN_ACCOUNT_DELAY"]
    app.config.update(LOGIN_ACCOUNT_FREE=3, LOGIN_ACCOUNT_DELAY=60.0)
    try:
        known = f"limited-{uuid.uuid4().hex[:6]}@example.test"
        factories.user(site.db, "viewer", email=known)
        site.db.commit()
        for email in (known, f"nobody-{uuid.uuid4().hex[:6]}@example.test"):
            form = Auth(app.test_client())
            codes = [form.login(email, "wrong").status_code for _ in range(2)]
            codes.append(app.test_client().post("/api/v1/auth/token", json={
                "email": email.upper(), "password": "wrong"}).status_code)
            codes.append(form.login(email).status_code)
            codes.append(app.test_client().post("/api/v1/auth/token", json={
                "email": email, "password": "correct-horse-battery"}).status_code)
            assert codes == [401, 401, 401, 429, 429], (email, codes)
    finally:
        app.config["LOGIN_ACCOUNT_FREE"], app.config["LOGIN_ACCOUNT_DELAY"] = old


HOSTILE_NEXT = [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
    "\\evil", "http:evil.example", "https:/evil.example", "///evil.example", "////evil.example",
    "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%2f%2fevil.example", "/%5Cevil.example",
    "%5C%5Cevil.example", "/%5c%5cevil.example", "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r\n/evil.example", " //evil.example", "\x0b//evil.example", "/%09/evil.example",
    "/%0d%0a/evil.example", "/%0a/evil.example", "/\uff0f\uff0fevil.example",
    "/\u2215\u2215evil.example", "/\ufe68evil.example", "/%EF%BC%8F%EF%BC%8Fevil.example",
    "/%C0%AF%C0%AFevil.example", "/.//evil.example", "/./evil.example", "/../evil.example",
    "/..%2F..%2Fevil.example", "data:text/html,<script>alert(1)</script>", "vbscript:x",
    "//evil.example@localhost", "http://localhost@evil.example/", "/\x7f/evil.example",
    "/%7f/evil.example", "%", "%%", "/%zz", "/" + "a" * 5000, "/logout", "/api/v1/wallets",
    "/socket.io/?EIO=4", "/static/../../etc/passwd", "https://localhost/", "//localhost/",
    "/\u202e/evil.example", "/\u00a0/evil.example", "\u3000//evil.example", "",
]
GOOD_NEXT = ["/wallets", "/wallets?state=low&q=Thandi", "/notifications?type=low_credit",
             "/scans", "/wallets/1"]
SITE = "http://localhost/login"


def stays_on_site(location: str) -> bool:
    """A Location a browser (and any proxy decoding it again) resolves to this host."""
    from urllib.parse import unquote, urljoin, urlsplit

    forms = {location, location.replace("\\", "/"),
             "".join(c for c in location if c not in "\t\n\r")}
    for _ in range(4):
        forms |= {unquote(f) for f in forms}
    return all(urlsplit(urljoin(SITE, f)).netloc == "localhost" for f in forms)


def sign_in_with_next(site, target):
    """A real sign-in through the form with `?next=target`."""
    from tests.conftest import csrf_from

    client = site.app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", query_string={"next": target}, data={
        "email": "matrix-viewer@example.test", "password": "correct-horse-battery",
        "csrf_token": token})


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=repr)
def test_sign_in_never_redirects_off_site(site, target):
    """`?next=` that could leave the site (schemes, hosts, slashes and backslashes, control
    characters, encoded and look-alike forms) or that is not a page goes home; no value is
    a 500."""
    r = sign_in_with_next(site, target)
    assert r.status_code == 302, (target, r.status_code)
    assert r.headers["Location"] == "/", (target, r.headers["Location"])


@pytest.mark.parametrize("target", GOOD_NEXT)
def test_sign_in_follows_next_within_the_site(site, target):
    """A page of this site is where the sign-in goes (so the check above is not "always
    home")."""
    r = sign_in_with_next(site, target)
    assert r.status_code == 302 and r.headers["Location"] == target


def test_a_nul_in_next_is_refused_not_a_500(site):
    """NUL is refused up front for every request (400), never followed, never a 500."""
    r = sign_in_with_next(site, "/wallets\x00//evil.example")
    assert r.status_code == 400


NEXT_PIECES = st.sampled_from(["/", "//", "\\", "%2F", "%2f", "%5C", "%25", "%", ":", "@",
                               ".", "..", "?", "#", "\t", "\n", "\r", " ", "\x0b", "\x7f",
                               "\uff0f", "\u2215", "\ufe68", "\u3002", "evil.example",
                               "localhost", "http", "https:", "javascript:", "wallets",
                               "%C0%AF", "%EF%BC%8F", "\u202e", "\ud800"])
NEXT_VALUES = st.one_of(st.lists(NEXT_PIECES, max_size=8).map("".join),
                        st.text(max_size=40), st.from_regex(r"\A/[ -~]{0,30}\Z"))


@given(target=NEXT_VALUES)
@settings(max_examples=400, deadline=None, database=None)
def test_safe_path_only_ever_names_this_site(target):
    """Property: whatever `next` is, the redirect target is None or a path a browser (or a
    proxy decoding it again) resolves to this host."""
    from dashboard.services.accounts import safe_path

    path = safe_path(target)
    assert path is None or (path.startswith("/") and stays_on_site(path)), (target, path)


@given(target=NEXT_VALUES)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_next_through_the_sign_in_page_stays_on_site(site, target):
    """Property through the real route: a signed-in visit to /login?next=… redirects, like a
    fresh sign-in, to a page of this site (home when in doubt); never a 500."""
    from urllib.parse import quote

    assume("\x00" not in target)
    # As bytes on the wire (a lone surrogate included: a client may send any bytes).
    query = "next=" + quote(target.encode("utf-8", "surrogatepass"), safe="")
    r = site.pages["viewer"].client.get("/login", query_string=query)
    assert r.status_code == 302, (target, r.status_code)
    assert stays_on_site(r.headers["Location"]), (target, r.headers["Location"])


# -- passwords -------------------------------------------------------------------------------------

@pytest.mark.parametrize("password,email,problem", [
    ("short", "", "at least 10"),
    ("x" * 201, "", "at most 200"),
    ("password1", "", "at least 10"),
    ("1234567890", "", "easy to guess"),
    ("qwertyuiop", "", "easy to guess"),
    ("Password123", "", "easy to guess"),
    ("aaaaaaaaaaaa", "", "easy to guess"),
    ("abababababab", "", "easy to guess"),
    ("abcdefghijkl", "", "easy to guess"),
    ("9876543210", "", "easy to guess"),
    ("          ", "", "easy to guess"),
    ("thabo@example.com", "thabo@example.com", "easy to guess"),
    ("thabo-the-great", "thabo@example.com", "your email"),
])
def test_password_rules_refuse_weak_passwords(password, email, problem):
    """create-user's rules: 10 to 200 characters, not a common or keyboard password, not one
    or two characters repeated, not the email or its name part."""
    message = check_password_rules(password, email)
    assert message and problem in message, (password, message)


@pytest.mark.parametrize("password", ["correct-horse-battery", "demo-operator", "Tr0ub4dor&3x",
                                      "a long passphrase with spaces", "ñandú-kéy-2026!"])
def test_password_rules_accept_good_passwords(password):
    """Long, varied passwords and passphrases pass (no composition rules: NIST 800-63B)."""
    assert check_password_rules(password, "someone@example.com") is None


# -- secrets in the repository ---------------------------------------------------------------------

def repository_files() -> list[Path]:
    """Files git tracks, and new ones it would add (not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in sorted(set(out.split())) if (ROOT / f).is_file()]


PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY( BLOCK)?-----")
TOKENS = re.compile(r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|xox[baprs]-[A-Za-z0-9-]{10,}"
                    r"|sk_live_[A-Za-z0-9]{16,}")
SECRET_ASSIGNMENT = re.compile(
    r"""SECRET_KEY["']?\s*[:=]\s*(?P<q>["'])(?P<value>[^"']*)(?P=q)""")
CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}")


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def looks_random(token: str) -> bool:
    """A long token of mixed letters and digits with the entropy of a key, not a path,
    identifier or word list."""
    if re.search(r"/[a-z_-]{3,}", token) or "_" in token.strip("_") and token.islower():
        return False
    if not (re.search(r"[0-9]", token) and re.search(r"[A-Za-z]", token)):
        return False
    if re.fullmatch(r"[0-9a-f]+", token):
        return len(token) >= 40 and entropy(token) > 3.5
    return entropy(token) > 4.3


def test_no_secret_in_the_repository():
    """No private key, cloud or API token, no high-entropy string that looks like a key, and
    no SECRET_KEY assigned anything but the documented development default (or, in tests,
    an obviously fake test value)."""
    from config import DEV_SECRET_KEY

    problems, scanned = [], 0
    for path in repository_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("static/vendor/") or path.suffix in (".png", ".jpg", ".ico",
                                                               ".woff", ".woff2", ".db"):
            continue  # minified third-party code and binaries (hashes in VERSIONS.md)
        try:
            text_ = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        scanned += 1
        for number, line in enumerate(text_.splitlines(), 1):
            where = f"{rel}:{number}"
            if PRIVATE_KEY.search(line) and "re.compile" not in line:
                problems.append(f"{where}: private key")
            if TOKENS.search(line) and "re.compile" not in line and "TOKENS" not in line:
                problems.append(f"{where}: token")
            for match in SECRET_ASSIGNMENT.finditer(line):
                value = match["value"]
                fake = rel.startswith("tests/") and ("test" in value or len(value) <= 3)
                if value and value != DEV_SECRET_KEY and not fake:
                    problems.append(f"{where}: SECRET_KEY = {value!r}")
            if any(h in line.lower() for h in ("sha256", "sha384", "sha512", "integrity")):
                continue  # checksums of vendored files
            for token in CANDIDATE.findall(line):
                if looks_random(token):
                    problems.append(f"{where}: high-entropy string {token[:12]}…")
    assert scanned > 100
    assert not problems, "\n".join(problems)


def test_the_secret_scanner_finds_what_it_looks_for():
    """The scanner's patterns catch a planted key, token, random secret and assignment."""
    from config import DEV_SECRET_KEY

    key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    assert PRIVATE_KEY.search(key)
    assert TOKENS.search("AKI" + "A" + "ABCDEFGHIJKLMNOP")
    import hashlib
    import secrets

    assert looks_random(secrets.token_urlsafe(32))  # made here: no literal for the scan to find
    assert looks_random(hashlib.sha256(b"x").hexdigest())
    assert not looks_random("check_critical_credit_wallets_every_four_hours")
    assert not looks_random("/opt/quantify-notify/scripts/run_celery_worker")
    line = 'SECRET_KEY = "' + "k" * 8 + '"'
    assert SECRET_ASSIGNMENT.search(line)["value"] == "k" * 8
    quoted = "SECRET_KEY=" + '"' + DEV_SECRET_KEY + '"'
    assert SECRET_ASSIGNMENT.search(quoted)["value"] == DEV_SECRET_KEY


# -- last: these bind the database session to databases of their own -------------------------------

def test_production_session_cookie_is_secure(monkeypatch, tmp_path, redis_url):
    """In production the session cookie is also Secure (sent over HTTPS only)."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config, fast_database

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", provider.fresh_secret())  # production's own
    url = fast_database(tmp_path)
    app = create_app("production", **app_config(url, redis_url, SECRET_KEY=secret,
                                                SOCKETIO_ASYNC_MODE="threading"))
    factories.user(Session, "operator", email="prod-op@example.test")
    Session.commit()
    client = app.test_client()
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    r = client.post("/login", base_url="https://localhost", data={
        "email": "prod-op@example.test", "password": "correct-horse-battery",
        "csrf_token": token}, headers={"Referer": "https://localhost/login"})
    assert r.status_code == 302
    cookie = session_cookie(r).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=" in r.headers.get("Strict-Transport-Security", "").lower()
    Session.remove()


def test_create_user_applies_the_password_rules(tmp_path):
    """`run.py create-user` refuses a weak password with the rule's message and creates
    nothing; a good one is stored hashed (scrypt), never as given."""
    from config import TestingConfig
    from dashboard.cli.users import create_user
    from dashboard.db import Session
    from dashboard.models import User
    from tests.conftest import fresh_database

    class Cfg(TestingConfig):
        DATABASE_URL = fresh_database(tmp_path)

    with pytest.raises(RuntimeError, match="easy to guess"):
        create_user(Cfg, "new-op@example.test", "operator", "qwertyuiop", None)
    assert Session.scalar(select(User).where(User.email == "new-op@example.test")) is None
    made = create_user(Cfg, "New-Op@example.test ", "operator", "a sound passphrase", None)
    user = Session.get(User, made["id"])
    assert user.email == "new-op@example.test" and user.password_hash.startswith("scrypt:")
    assert "a sound passphrase" not in user.password_hash
    Session.remove()


# -- production gates --------------------------------------------------------------------------

def production_app(monkeypatch, tmp_path, redis_url, **extra):
    """A production app on a database of its own (threading, plain http for the client)."""
    from dashboard import create_app
    from tests.conftest import app_config, fast_database

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", provider.fresh_secret())
    return create_app("production", **app_config(
        fast_database(tmp_path), redis_url, SECRET_KEY=secret, SOCKETIO_ASYNC_MODE="threading",
        SESSION_COOKIE_SECURE=False, **extra))


def test_production_metrics_need_the_token_and_without_one_nobody_gets_them(
        monkeypatch, tmp_path, redis_url):
    """APP_ENV=production: /metrics is 401 without a METRICS_TOKEN set (for everyone) and
    without the right bearer token; with it, the figures."""
    from dashboard.db import Session

    client = production_app(monkeypatch, tmp_path, redis_url).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    Session.remove()
    token = uuid.uuid4().hex
    (tmp_path / "t").mkdir()
    client = production_app(monkeypatch, tmp_path / "t", redis_url,
                            METRICS_TOKEN=token).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "quantify_wallets" in r.get_data(as_text=True)
    Session.remove()


def test_production_readyz_tells_anonymous_callers_only_the_status(
        monkeypatch, tmp_path, redis_url):
    """APP_ENV=production: /readyz answers {status} alone to callers without the token
    (load balancers still probe it), the checks with it; the status code is the same."""
    from dashboard.db import Session

    token = uuid.uuid4().hex
    client = production_app(monkeypatch, tmp_path, redis_url,
                            METRICS_TOKEN=token).test_client()
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"status": "ready"}
    wrong = client.get("/readyz", headers={"Authorization": "Bearer nope"})
    assert wrong.get_json() == {"status": "ready"}
    inside = client.get("/readyz", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert inside["checks"]["database"]["ok"] and "redis" in inside["checks"]
    Session.remove()


def test_production_refuses_the_demo_logins(monkeypatch, tmp_path, redis_url):
    """A demo login that found its way into a production database does not sign in (the
    same answer as a wrong password); a real account does."""
    from dashboard.db import Session
    from dashboard.services.demo.seed import DEMO_LOGINS

    app = production_app(monkeypatch, tmp_path, redis_url)
    factories.user(Session, "operator", email="operator@example.com", password="demo-operator")
    factories.user(Session, "operator", email="real-op@example.test")
    Session.commit()
    assert "operator@example.com" in DEMO_LOGINS
    demo = app.test_client().post("/api/v1/auth/token", json={
        "email": "operator@example.com", "password": "demo-operator"})
    assert demo.status_code == 401
    assert demo.get_json()["error"]["message"] == "That email and password do not match an " \
                                                  "account."
    assert Auth(app.test_client()).login("operator@example.com", "demo-operator"
                                         ).status_code == 401
    assert app.test_client().post("/api/v1/auth/token", json={
        "email": "real-op@example.test", "password": "correct-horse-battery"}).status_code == 200
    Session.remove()


def test_seed_refuses_to_run_in_production(tmp_path):
    """`run.py seed` with APP_ENV=production: a clear message, a non-zero exit, and the
    database untouched (not even migrated)."""
    db = tmp_path / "prod.db"
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": "s" * 40,
           "PAYMENT_WEBHOOK_SECRET": provider.fresh_secret(), "DATABASE_URL": f"sqlite:///{db}"}
    result = subprocess.run([sys.executable, "run.py", "seed", "--wallets", "1"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "refuses to run when APP_ENV=production" in result.stderr, result.stderr
    assert not db.exists() or db.stat().st_size == 0


def test_seed_if_empty_never_seeds_production(tmp_path, monkeypatch):
    """`run.py all`'s first-start seeding: never in production, even were SEED_DEMO_DATA
    on; in development it makes the demo logins (so this check can fail)."""
    from config import DevelopmentConfig, ProductionConfig
    from dashboard.cli.supervisor import seed_if_empty
    from dashboard.db import Session, init_engine
    from dashboard.models import User
    from tests.conftest import fresh_database

    monkeypatch.setenv("DEMO_WALLETS", "3")
    for name, base, seeded in (("prod", ProductionConfig, False),
                               ("dev", DevelopmentConfig, True)):
        (tmp_path / name).mkdir()
        url = fresh_database(tmp_path / name)
        config = type(name, (base,), {"DATABASE_URL": url, "SEED_DEMO_DATA": True})
        seed_if_empty(config)
        init_engine(url)
        demo = Session.scalar(select(User.id).where(User.email == "operator@example.com"))
        assert (demo is not None) == seeded, name
        assert (Session.scalar(select(func.count()).select_from(User)) > 0) == seeded, name
        Session.remove()


def test_nginx_sample_keeps_metrics_and_readyz_inside():
    """deploy/nginx.conf: /metrics and /readyz are served to this host only (allow
    loopback, deny all), in their own exact-match locations."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for path in ("/metrics", "/readyz"):
        block = re.search(r"location = " + re.escape(path) + r" \{(?P<body>[^}]*)\}", conf)
        assert block, f"no location for {path}"
        rules = [line.strip() for line in block["body"].splitlines()
                 if line.strip().startswith(("allow", "deny"))]
        assert rules[-1] == "deny all;", rules
        assert set(rules[:-1]) <= {"allow 127.0.0.1;", "allow ::1;"}, rules
