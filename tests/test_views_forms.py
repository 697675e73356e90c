"""One form approach (views/forms/, macros/forms.html) and one after-payment path
(dispatch.after_payment), shared by the operator pages, the resident pages and the API.

Each form, operator or resident, refused with one bad field: 422, the error in a
<p class="field-error"> right after its control and before the next one, the control marked
aria-invalid and naming the error in aria-describedby; htmx gets the form's fragment, a
browser without JavaScript the whole page.
"""
from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import func, select

from dashboard.errors import http_status
from dashboard.models import Notification, Payment, Transaction, Wallet, utcnow
from dashboard.services import errors as service_errors
from dashboard.services import notifications
from tests import provider
from tests.conftest import Auth, private_broker_url

HX = {"HX-Request": "true"}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def people(app, make):
    """A low wallet (R 30, alert level R 50) with its resident, an operator, signed in."""
    estate = make.estate(name="Forms Park")
    wallet = make.wallet("30.00", estate_obj=estate)
    make.resident(wallet, email="res@example.test")
    make.user("operator", email="op@example.test")
    clients = {}
    for who, email in (("operator", "op@example.test"), ("resident", "res@example.test")):
        auth = Auth(app.test_client())
        assert auth.login(email).status_code == 302
        clients[who] = auth
    clients["anonymous"] = Auth(app.test_client())
    return SimpleNamespace(wallet=wallet.id, estate=estate.id, clients=clients)


# (who, url, form with one bad field, id of the control, message, htmx gets a fragment)
FORMS = {
    "operator alert settings": (
        "operator", "/wallets/{w}/settings",
        {"low_balance_threshold": "12,50", "alert_mode": "amount", "low_balance_days": "3",
         "alert_frequency_hours": "24"},
        "low_balance_threshold", "Enter an amount in rand", True),
    "operator top-up": (
        "operator", "/wallets/{w}/topups",
        {"amount": "-5", "method": "cash", "idempotency_key": "op-1"},
        "topup-amount", "The amount must be more than zero.", True),
    "operator purchase": (
        "operator", "/wallets/{w}/purchases",
        {"amount": "500.00", "utility": "water", "idempotency_key": "op-2"},
        "buy-amount", "The most you can spend is R 30.00.", True),
    "estate defaults": (
        "operator", "/thresholds/estates/{e}",
        {"low_balance_threshold": "50.00", "alert_mode": "amount", "low_balance_days": "0",
         "alert_frequency_hours": "24", "min_low_balance_threshold": "0.00",
         "max_low_balance_threshold": "100.00"},
        "estate-low_balance_days", "Enter a whole number from 1 to 60.", True),
    "bulk change": (
        "operator", "/thresholds/apply",
        {"estate_id": "all", "scope": "all", "low_balance_threshold": "-5"},
        "bulk-low_balance_threshold", "The amount must be more than zero.", False),
    "resident top-up": (
        "resident", "/me/wallets/{w}/topups",
        {"amount": "50", "method": "cash", "idempotency_key": "res-1"},
        "topup-method-{w}", "Choose card or instant EFT.", True),
    "resident buy": (
        "resident", "/me/wallets/{w}/purchases",
        {"amount": "12.345", "utility": "electricity", "idempotency_key": "res-2"},
        "buy-amount-{w}", "Use at most two decimal places (cents).", True),
    "resident alerts": (
        "resident", "/me/wallets/{w}/alerts",
        {"alert_mode": "amount", "low_balance_threshold": "lots", "low_balance_days": "3"},
        "alerts-threshold-{w}", "Enter an amount in rand", True),
    "sign in": (
        "anonymous", "/login", {"email": "  ", "password": "x"},
        "email", "Enter your email address.", False),
}


def _error_beside(html: str, control_id: str, message: str) -> None:
    """The control is marked invalid, names its error, and the error follows it directly."""
    control = re.search(rf'<(input|select)\b[^>]*\bid="{re.escape(control_id)}"[^>]*>', html)
    assert control, f"no control {control_id}"
    tag = control.group(0)
    assert 'aria-invalid="true"' in tag, tag
    described = re.search(r'aria-describedby="([^"]+)"', tag)
    assert described and f"{control_id}-error" in described.group(1).split(), tag
    error = re.search(rf'<p class="field-error" id="{re.escape(control_id)}-error">([^<]*)</p>',
                      html)
    assert error and message in error.group(1), (control_id, error and error.group(1))
    after = html[control.end():]
    next_control = re.search(r"<(input|select|textarea)\b", after)
    assert after.index(error.group(0)) < (next_control.start() if next_control else len(after))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_shows_its_error_beside_the_field(people, db, name, htmx):
    who, url, data, control, message, has_fragment = FORMS[name]
    if htmx and not has_fragment:
        pytest.skip("this form is a plain form: no htmx fragment of its own")
    auth = people.clients[who]
    token = auth.csrf or _login_token(auth)
    url = url.format(w=people.wallet, e=people.estate)
    before = _snapshot(db)
    response = auth.client.post(url, data={**data, "csrf_token": token},
                                headers=HX if htmx else {})
    html = response.get_data(as_text=True)
    assert response.status_code == 422, (response.status_code, html[:300])
    assert ("<html" in html) is not htmx  # the fragment for htmx, else the whole page
    _error_beside(html, control.format(w=people.wallet), message)
    assert _snapshot(db) == before


def test_the_log_filter_shows_a_bad_date_beside_the_field(people):
    """The operators' GET filter form: the whole page, 422, the error beside the date."""
    response = people.clients["operator"].client.get("/notifications?date=31-12-2025")
    assert response.status_code == 422
    _error_beside(response.get_data(as_text=True), "log-date", "Use a date like 2025-03-31.")


def test_only_the_forms_macro_marks_fields_invalid():
    """Every template draws field errors through macros/forms.html: no other template
    writes aria-invalid or a field error's id by hand."""
    macro = TEMPLATES / "macros" / "forms.html"
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if path != macro:
            assert "aria-invalid" not in text and 'field-error" id=' not in text, path
    assert "aria-invalid" in macro.read_text()


def _login_token(auth) -> str:
    """The CSRF token of a signed-out client, from the sign-in page."""
    html = auth.client.get("/login").get_data(as_text=True)
    auth.csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return auth.csrf


def _snapshot(db):
    """What a refused form must not change."""
    db.remove()
    return (db.execute(select(Wallet.id, Wallet.balance, Wallet.low_balance_threshold,
                              Wallet.low_balance_days)).all(),
            db.scalar(select(func.count()).select_from(Transaction)))


# -- payment forms: the same key rules for operators and residents ------------------------

PAY_URLS = {"operator": ("/wallets/{w}/topups", "cash", "Top up"),
            "resident": ("/me/wallets/{w}/topups", "card", "Top up")}
#: The balance after the first R 10.00: the office's top-up is credited at once, the
#: resident's is a payment waiting for the provider.
FIRST_BALANCE = {"operator": Decimal("40.00"), "resident": Decimal("30.00")}


@pytest.mark.parametrize("who", list(PAY_URLS))
def test_a_payment_form_without_its_key_pays_nothing_for_anyone(people, db, who):
    url, method, button = PAY_URLS[who]
    auth = people.clients[who]
    response = auth.client.post(url.format(w=people.wallet), headers=HX, data={
        "amount": "10.00", "method": method, "csrf_token": auth.csrf})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"This form is out of date. Check the details and press {button} again." in html
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', html)  # a new key
    assert _snapshot(db)[1] == 0


@pytest.mark.parametrize("who", list(PAY_URLS))
def test_an_old_payment_form_changed_and_resent_gets_a_new_key(people, db, who):
    url, method, _button = PAY_URLS[who]
    auth = people.clients[who]
    url = url.format(w=people.wallet)
    form = {"amount": "10.00", "method": method, "idempotency_key": f"old-{who}",
            "csrf_token": auth.csrf}
    assert auth.client.post(url, data=form, headers=HX).status_code == 200
    again = auth.client.post(url, data={**form, "amount": "99.00"}, headers=HX)
    html = again.get_data(as_text=True)
    assert again.status_code == 422 and "already used for an earlier payment" in html
    assert f'value="old-{who}"' not in html
    db.remove()
    assert db.get(Wallet, people.wallet).balance == FIRST_BALANCE[who]


# -- one after_payment for pages and API -------------------------------------------------

def _queued(redis_url) -> list[tuple[str, str]]:
    """(task, kwargs) waiting on the private broker's queue, oldest first."""
    broker = redis.Redis.from_url(private_broker_url(redis_url))
    return [(json.loads(raw)["headers"]["task"], json.loads(raw)["headers"]["kwargsrepr"])
            for raw in reversed(broker.lrange("notifications", 0, -1))]


def _heard(listener, seconds=2.0) -> list[dict]:
    """The Socket.IO events published on the app's channel within `seconds`."""
    heard, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = listener.get_message(timeout=0.2)
        if message and message["type"] == "message":
            heard.append(json.loads(message["data"]))
    return heard


def _payloads(heard: list[dict], event: str) -> list[dict]:
    """The payloads of one event among the messages heard (emit's first argument)."""
    return [m["data"][0] for m in heard if m.get("method") == "emit" and m["event"] == event]


ROUTES = {  # who, url, extra headers, body
    "operator page": ("operator", "/wallets/{w}/topups", HX, "form"),
    # The resident's page starts a payment; the provider's webhook is what credits it.
    "resident page and the provider's webhook": ("resident", "/me/wallets/{w}/topups", HX,
                                                 "payment"),
    "API": ("operator", "/api/v1/wallets/{w}/topups", {}, "json"),
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_top_up_tells_everyone_once_whichever_route_took_it(app, people, db, redis_url,
                                                              route):
    """The top-up that brings a low wallet back to ok: its two real-time tasks are queued,
    the low alert it resolved is published again (resolved), and the wallet with its new
    balance is published; the same form or key sent again queues and publishes nothing."""
    who, url, headers, body = ROUTES[route]
    auth = people.clients[who]
    [alert] = notifications.store(db, [notifications.notification_row(
        "low_credit", "Your credit is running low", "Low.", dedup_key=f"low-{route}",
        now=utcnow(), wallet_id=people.wallet)])
    db.commit()
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(app.config["SOCKETIO_CHANNEL"])
    url = url.format(w=people.wallet)
    if body == "json":  # a script with a bearer token, no session
        auth = Auth(app.test_client())
        token = auth.token("op@example.test")
        send = lambda: auth.client.post(url, json={"amount": "100.00", "method": "eft"},
                                        headers={**token, "Idempotency-Key": "api-1"})
    elif body == "payment":  # the form starts it (a replay: the same payment), then the
        message = []         # provider confirms it (a replay: the same message)

        def send():
            """Top up on the page, then the provider's webhook for that payment."""
            started = auth.client.post(url, headers=headers, data={
                "amount": "100.00", "method": "card", "idempotency_key": "page-1",
                "csrf_token": auth.csrf})
            # To the payment page; once it is paid, a resent form goes to its card instead.
            went = started.headers["HX-Redirect"]
            assert started.status_code == 200
            assert ("#payment-" in went) if message else ("/dev/gateway/" in went), went
            if not message:
                payment_id = db.scalar(select(Payment.id).where(
                    Payment.wallet_id == people.wallet))
                message.extend(provider.signed(payment_id, "100.00"))
            return provider.post(app.test_client(), *message)
    else:
        send = lambda: auth.client.post(url, headers=headers, data={
            "amount": "100.00", "method": "eft", "idempotency_key": "page-1",
            "csrf_token": auth.csrf})
    try:
        assert send().status_code in (200, 201)
        tx_id = db.scalar(select(Transaction.id).where(Transaction.wallet_id == people.wallet))
        # One task: the notice and (its header asks) the wallet check.
        assert _queued(redis_url) == [("send_topup_notification",
                                       f"{{'transaction_id': {tx_id}}}")]
        heard = _heard(listener)
        assert [(n["id"], n["resolved_at"] is not None)
                for n in _payloads(heard, "notification")] == [(alert, True)]
        assert [(w["id"], w["balance"], w["state"]) for w in _payloads(heard, "wallet")] == [
            (people.wallet, "130.00", "ok")]
        redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
        assert send().status_code == 200  # the replay: the first result, nobody told again
        assert _queued(redis_url) == [] and _heard(listener, 1.0) == []
    finally:
        listener.close()
    db.remove()
    assert db.get(Notification, alert).resolved_at is not None


# -- the web picks the status of a service's refusal -------------------------------------

def test_services_name_the_refusal_and_the_web_picks_its_status():
    """Service errors carry a kind and a code, no HTTP status; dashboard.errors maps them."""
    kinds = {service_errors.ValidationFailed: 422, service_errors.Conflict: 409,
             service_errors.NotFound: 404, service_errors.Forbidden: 403,
             service_errors.Unavailable: 503, service_errors.ServiceError: 400}
    for kind, status in kinds.items():
        assert not hasattr(kind, "status"), kind
        assert http_status(kind("No.")) == status

    class Throttled(service_errors.ServiceError):
        """A web-layer refusal that names its own status."""

        status = 429

    assert http_status(Throttled("Slow down.")) == 429
