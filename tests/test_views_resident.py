"""The resident pages (views/resident.py): own data only, forms, idempotent payments, inbox."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from dashboard import dispatch, events
from dashboard.models import (
    Meter,
    MeterReading,
    Notification,
    Payment,
    Transaction,
    Wallet,
    utcnow,
)
from dashboard.services import notifications
from tests import provider

HX = {"HX-Request": "true"}


@pytest.fixture
def home(make):
    """A resident of one wallet (R 100, alert level R 50) on an estate allowing R 20–R 500."""
    estate = make.estate(min_low_balance_threshold=Decimal("20.00"),
                         max_low_balance_threshold=Decimal("500.00"))
    wallet = make.wallet("100.00", estate_obj=estate, meters=True)
    user = make.resident(wallet, email="me@example.test")
    return SimpleNamespace(estate=estate, wallet=wallet, user=user)


@pytest.fixture
def me(auth, home):
    """The client signed in as that resident; `me.post` sends the CSRF token."""

    def post(url, data=None, htmx=True, **kw):
        """A POST with the page's CSRF token, as htmx (or a plain form) sends it."""
        headers = {"X-CSRFToken": auth.csrf, **(HX if htmx else {})}
        return auth.client.post(url, data=data or {}, headers=headers, **kw)

    auth.login("me@example.test")
    return SimpleNamespace(client=auth.client, post=post, csrf=auth.csrf, **vars(home))


@pytest.fixture
def sent(monkeypatch):
    """Records what the routes queue and publish instead of reaching the worker."""
    calls = SimpleNamespace(transactions=[], unread=[], wallets=[])

    def unread(session, user_ids):
        """Note who is told, and whether their change was already committed."""
        calls.unread.append((list(user_ids), session().in_transaction()))

    monkeypatch.setattr(dispatch, "after_transaction",
                        lambda tx: calls.transactions.append(tx.id) or True)
    monkeypatch.setattr(events, "publish_unread_counts", unread)
    monkeypatch.setattr(events, "publish_wallet",
                        lambda session, wallet_id: calls.wallets.append(wallet_id))
    return calls


def _wallet(db, wallet_id) -> Wallet:
    """The wallet as stored now."""
    db.remove()
    return db.get(Wallet, wallet_id)


def _count_transactions(db, wallet_id) -> int:
    """How many transactions the wallet has."""
    db.remove()
    return db.scalar(select(func.count()).select_from(Transaction)
                     .where(Transaction.wallet_id == wallet_id))


def _notify(db, wallet, kind="high_usage", count=1, *, resolved=False) -> list[int]:
    """Store `count` notifications for the wallet's residents."""
    now = utcnow()
    ids = notifications.store(db, [notifications.notification_row(
        kind, f"{kind} {i}", f"Message {i}", dedup_key=f"t-{uuid.uuid4().hex}", now=now,
        wallet_id=wallet.id) for i in range(count)])
    if resolved:
        notifications.resolve_credit_alerts(db, wallet.id, now)
    db.commit()
    return ids


def _text(response) -> str:
    """The body as text."""
    return response.get_data(as_text=True)


# -- the wallet page ---------------------------------------------------------------------

def test_home_shows_balance_split_state_days_left_chart_and_transactions(me, db, make):
    w = db.get(Wallet, me.wallet.id)
    w.electricity_credit = Decimal("60.00")
    make.purchase_history(w, ["60.00"])  # R 2.00 a day over 30 days: 50 days at R 100
    meter = db.scalar(select(Meter).where(Meter.unit_id == w.unit_id,
                                          Meter.utility == "electricity"))
    for day in range(3):
        db.add(MeterReading(meter_id=meter.id, reading=Decimal(10 * day), taken_at=utcnow()
                            - timedelta(days=day), consumption=Decimal("9.5")))
    db.commit()
    html = _text(me.client.get("/me/"))
    assert "R 100.00" in html and "Your credit is fine" in html
    assert "About <strong>50.0 days</strong>" in html and "R 2.00 a day" in html
    assert "<dt>Electricity</dt><dd class=\"money\">R 60.00</dd>" in html
    assert '<svg class="chart"' in html
    assert "Electricity, 1 kWh" in html  # the purchase in the ledger
    assert 'aria-label="Notifications"' in html
    assert re.search(r'class="badge-count" data-unread-badge role="status" '
                     r'aria-label="unread notifications"', html)


@pytest.mark.parametrize("balance, words", [("40.00", "Your credit is low"),
                                            ("5.00", "Your credit is almost finished"),
                                            ("50.00", "Your credit is fine")])
def test_the_state_is_said_in_words(auth, make, balance, words):
    make.resident(make.wallet(balance), email="s@example.test")
    auth.login("s@example.test")
    assert words in _text(auth.client.get("/me/"))


def test_a_resident_with_two_units_can_switch_between_their_wallets(auth, make, db):
    first = make.wallet("10.00")
    second = make.wallet("20.00")
    user = make.resident(first, email="two@example.test")
    make.resident(second, email="other-login@example.test")
    from dashboard.models import Occupancy
    occ = db.scalar(select(Occupancy).where(Occupancy.unit_id == first.unit_id))
    db.add(Occupancy(unit_id=second.unit_id, person_id=user.person_id, role="owner",
                     is_primary=False, start_date=occ.start_date))
    db.commit()
    auth.login("two@example.test")
    html = _text(auth.client.get("/me/"))
    assert "R 10.00" in html and f'href="/me/wallets/{second.id}"' in html
    assert "R 20.00" in _text(auth.client.get(f"/me/wallets/{second.id}"))


def test_a_resident_without_a_wallet_sees_an_explanation(auth, make):
    make.user("resident", email="nohome@example.test")
    auth.login("nohome@example.test")
    response = auth.client.get("/me/")
    assert response.status_code == 200 and "No wallet is linked" in _text(response)


# -- access --------------------------------------------------------------------------------

RESIDENT_PAGES = ["/me/", "/me/notifications", "/me/wallets/{id}", "/me/wallets/{id}/balance"]


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_staff_get_404_on_resident_pages(auth, make, home, role):
    make.user(role, email=f"{role}@example.test")
    auth.login(f"{role}@example.test")
    for url in RESIDENT_PAGES:
        assert auth.client.get(url.format(id=home.wallet.id), headers=HX).status_code == 404
    response = auth.client.post("/me/notifications/read-all", headers={"X-CSRFToken": auth.csrf})
    assert response.status_code == 404


def test_signed_out_people_are_sent_to_sign_in(client, home):
    for url in RESIDENT_PAGES:
        response = client.get(url.format(id=home.wallet.id))
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_residents_wallet_is_404_everywhere(me, make, db, sent):
    other = make.wallet("300.00")
    make.resident(other, email="neighbour@example.test")
    for path in ("", "/balance", "/transactions", "/payment", "/topups/preview",
                 "/purchases/preview", "/alerts/preview"):
        assert me.client.get(f"/me/wallets/{other.id}{path}", headers=HX).status_code == 404
    key = {"idempotency_key": "k1"}
    assert me.post(f"/me/wallets/{other.id}/topups",
                   {"amount": "5", "method": "card", **key}).status_code == 404
    assert me.post(f"/me/wallets/{other.id}/purchases",
                   {"amount": "5", "utility": "water", **key}).status_code == 404
    assert me.post(f"/me/wallets/{other.id}/alerts",
                   {"low_balance_threshold": "0"}).status_code == 404
    theirs = _notify(db, other)[0]
    assert me.post(f"/me/notifications/{theirs}/read").status_code == 404
    huge = "9" * 30  # beyond 64 bits: still a plain 404, not a database error
    assert me.client.get(f"/me/wallets/{huge}").status_code == 404
    assert me.post(f"/me/notifications/{huge}/read").status_code == 404
    wallet = _wallet(db, other.id)
    assert wallet.balance == Decimal("300.00") and wallet.low_balance_threshold == Decimal(50)
    assert _count_transactions(db, other.id) == 0 and sent.transactions == []


def test_every_form_needs_the_csrf_token(me, db):
    for path, data in [
        ("/me/wallets/{id}/topups", {"amount": "10", "method": "card", "idempotency_key": "k"}),
        ("/me/wallets/{id}/purchases", {"amount": "10", "utility": "water",
                                        "idempotency_key": "k"}),
        ("/me/wallets/{id}/alerts", {"low_balance_threshold": "100"}),
        ("/me/notifications/read-all", {}),
    ]:
        response = me.client.post(path.format(id=me.wallet.id), data=data, headers=HX)
        assert response.status_code == 400 and "security token" in _text(response), path
    wallet = _wallet(db, me.wallet.id)
    assert wallet.balance == Decimal("100.00") and wallet.low_balance_threshold == Decimal(50)


# -- top up: a payment, credited by the provider's webhook -------------------------------------

def _payments(db, wallet_id) -> list[Payment]:
    """The wallet's payments, oldest first."""
    db.remove()
    return list(db.scalars(select(Payment).where(Payment.wallet_id == wallet_id)
                           .order_by(Payment.id)))


def test_top_up_starts_one_payment_per_form_and_goes_to_the_payment_page(me, db, sent):
    """htmx: HX-Redirect to the payment page; nothing is credited, nobody is told; the same
    form again (a double click that got through) is the same payment, not a second."""
    url = f"/me/wallets/{me.wallet.id}/topups"
    form = {"amount": "50", "method": "instant_eft", "idempotency_key": "form-1"}
    first = me.post(url, form)
    [payment] = _payments(db, me.wallet.id)
    assert first.status_code == 200
    assert first.headers["HX-Redirect"] == f"http://localhost/dev/gateway/{payment.id}"
    assert (payment.status, payment.amount, payment.method, payment.created_by_id) == (
        "pending", Decimal("50.00"), "instant_eft", me.user.id)
    again = me.post(url, form)
    assert again.headers["HX-Redirect"] == first.headers["HX-Redirect"]
    assert len(_payments(db, me.wallet.id)) == 1
    assert _wallet(db, me.wallet.id).balance == Decimal("100.00")
    assert _count_transactions(db, me.wallet.id) == 0 and sent.transactions == []
    assert sent.wallets == []


def test_top_up_without_javascript_goes_to_the_payment_page_and_a_resubmit_pays_once(
        me, db, app):
    """A plain form: 303 to the payment page, again for a resubmit; once the provider has
    confirmed it, a resubmit goes to the payment card, which says it was received."""
    url = f"/me/wallets/{me.wallet.id}/topups"
    page = _text(me.client.get("/me/"))
    key = re.search(r'id="topup-form-\d+".*?name="idempotency_key" value="([^"]+)"', page,
                    re.DOTALL).group(1)
    form = {"amount": "20.50", "method": "card", "idempotency_key": key, "csrf_token": me.csrf}
    for _ in range(2):
        response = me.client.post(url, data=form)
        assert response.status_code == 303
        assert "/dev/gateway/" in response.headers["Location"]
    [payment] = _payments(db, me.wallet.id)
    assert provider.post(app.test_client(), *provider.signed(payment.id, "20.50")) \
        .status_code == 200  # the provider: no session
    response = me.client.post(url, data=form)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/me/wallets/{me.wallet.id}"
                                                 f"#payment-{me.wallet.id}")
    assert "Payment received: R 20.50 was added to your wallet." in _text(
        me.client.get(response.headers["Location"]))
    assert _wallet(db, me.wallet.id).balance == Decimal("120.50")
    assert _count_transactions(db, me.wallet.id) == 1 and len(_payments(db, me.wallet.id)) == 1


@pytest.mark.parametrize("amount, method, field, message", [
    ("50", "cash", "method", "Choose card or instant EFT."),
    ("50", "manual_admin", "method", "Choose card or instant EFT."),
    ("50", "eft", "method", "Choose card or instant EFT."),
    ("-5", "card", "amount", "more than zero"),
    ("abc", "card", "amount", "Enter an amount in rand"),
    ("12.345", "card", "amount", "two decimal places"),
    ("", "card", "amount", "Enter an amount in rand"),
    ("100001", "card", "amount", "The most allowed is R 100,000.00"),
])
def test_top_up_errors_sit_beside_their_field_and_nothing_is_paid(me, db, sent, amount,
                                                                  method, field, message):
    response = me.post(f"/me/wallets/{me.wallet.id}/topups",
                       {"amount": amount, "method": method, "idempotency_key": "k"})
    html = _text(response)
    assert response.status_code == 422 and "HX-Redirect" not in response.headers
    assert f'id="topup-{field}-{me.wallet.id}-error">' in html and message in html
    assert re.search(rf'id="topup-{field}-{me.wallet.id}"[^>]*aria-invalid="true"', html, re.DOTALL)
    assert _payments(db, me.wallet.id) == [] and sent.transactions == []


def test_a_payment_form_without_its_key_is_refused(me, db):
    response = me.post(f"/me/wallets/{me.wallet.id}/topups", {"amount": "5", "method": "card"})
    assert response.status_code == 422 and "This form is out of date" in _text(response)
    assert _payments(db, me.wallet.id) == []


def test_an_old_form_changed_and_resent_pays_nothing_and_gets_a_new_key(me, db):
    url = f"/me/wallets/{me.wallet.id}/topups"
    me.post(url, {"amount": "10", "method": "card", "idempotency_key": "old"})
    response = me.post(url, {"amount": "99", "method": "card", "idempotency_key": "old"})
    html = _text(response)
    assert response.status_code == 422 and "already used for an earlier payment" in html
    assert 'value="old"' not in html
    assert [p.amount for p in _payments(db, me.wallet.id)] == [Decimal("10.00")]
    assert _wallet(db, me.wallet.id).balance == Decimal("100.00")


def _started(db, me, amount="100.00", minutes_ago=0) -> int:
    """A payment the resident started `minutes_ago`."""
    from dashboard.services import payments

    return payments.start_payment(db, me.wallet.id, amount, "card", user_id=me.user.id,
                                  now=utcnow() - timedelta(minutes=minutes_ago)).payment.id


@pytest.mark.parametrize("outcome, words", [
    (None, "Waiting for your bank to confirm R 100.00."),
    ("payment.succeeded", "Payment received: R 100.00 was added to your wallet."),
    ("payment.failed", "Your payment of R 100.00 was declined. Nothing was added"),
    ("expired", "Your payment of R 100.00 expired: it was not completed within 30 minutes."),
])
def test_the_payment_card_says_plainly_how_the_payment_stands(me, db, app, outcome, words):
    """Pending (with the way back to the payment page), received, declined, expired: on the
    wallet page and from the card's own route, which refreshes on wallet-updated."""
    payment_id = _started(db, me, minutes_ago=31 if outcome == "expired" else 0)
    if outcome and outcome != "expired":
        assert provider.post(app.test_client(), *provider.signed(
            payment_id, "100.00", outcome)).status_code == 200
    page = _text(me.client.get("/me/"))
    card = _text(me.client.get(f"/me/wallets/{me.wallet.id}/payment", headers=HX))
    for html in (page, card):
        assert words in html and f'data-payment-id="{payment_id}"' in html
        assert ('href="http://localhost/dev/gateway/' in html) is (outcome is None)
    assert "<html" not in card and 'hx-trigger="wallet-updated from:body' in card
    assert ("every 10s" in card) is (outcome is None)  # polls only while it waits


def test_the_payment_card_route_is_a_fragment_or_the_wallet_page(me, db):
    """Without htmx the card's URL is not a page: back to the wallet, at the card. With no
    recent payment the card is an empty slot that a later refresh fills."""
    plain = me.client.get(f"/me/wallets/{me.wallet.id}/payment")
    assert plain.status_code == 302
    assert plain.headers["Location"].endswith(f"/me/wallets/{me.wallet.id}"
                                              f"#payment-{me.wallet.id}")
    empty = _text(me.client.get(f"/me/wallets/{me.wallet.id}/payment", headers=HX))
    assert f'id="payment-{me.wallet.id}"' in empty and "Your payment" not in empty


def test_the_top_up_confirmation_names_the_amount(me):
    response = me.client.get(f"/me/wallets/{me.wallet.id}/topups/preview",
                             query_string={"amount": "75", "method": "instant_eft"}, headers=HX)
    assert 'data-confirm="Pay R 75.00 by Instant EFT into your wallet?' in _text(response)
    assert 'hx-swap-oob="true"' in _text(response)


# -- buy --------------------------------------------------------------------------------------

def test_the_buy_preview_shows_the_units_at_the_estate_tariff(me):
    response = me.client.get(f"/me/wallets/{me.wallet.id}/purchases/preview",
                             query_string={"amount": "50", "utility": "electricity"},
                             headers=HX)
    html = _text(response)
    assert "R 50.00 buys 20 kWh of electricity." in html  # R 2.50 per kWh
    assert 'data-confirm="Buy 20 kWh of electricity for R 50.00 from your wallet balance?"' in html
    water = me.client.get(f"/me/wallets/{me.wallet.id}/purchases/preview",
                          query_string={"amount": "10", "utility": "water"}, headers=HX)
    assert "R 10.00 buys 0.4 kL of water." in _text(water)
    empty = me.client.get(f"/me/wallets/{me.wallet.id}/purchases/preview",
                          query_string={"amount": "", "utility": "water"}, headers=HX)
    assert "Enter an amount to see how many kL it buys." in _text(empty)


def test_buy_takes_the_amount_from_the_balance_and_gives_units(me, db, sent):
    response = me.post(f"/me/wallets/{me.wallet.id}/purchases",
                       {"amount": "50", "utility": "electricity", "idempotency_key": "b1"})
    assert response.status_code == 200
    assert "You bought 20 kWh of electricity for R 50.00" in _text(response)
    wallet = _wallet(db, me.wallet.id)
    assert wallet.balance == Decimal("50.00") and wallet.electricity_credit == Decimal("50.00")
    tx = db.scalar(select(Transaction).where(Transaction.wallet_id == me.wallet.id))
    assert tx.units == Decimal("20.000") and tx.created_by_id == me.user.id
    assert sent.transactions == [tx.id]


@pytest.mark.parametrize("htmx", [True, False])
def test_buying_more_than_the_balance_is_refused_beside_the_amount(me, db, sent, htmx):
    form = {"amount": "150", "utility": "water", "idempotency_key": "b2"}
    if not htmx:
        form["csrf_token"] = me.csrf
    response = me.post(f"/me/wallets/{me.wallet.id}/purchases", form, htmx=htmx)
    html = _text(response)
    assert response.status_code == 422
    assert (f'<p class="field-error" id="buy-amount-{me.wallet.id}-error">The balance of '
            f'R 100.00 is less than R 150.00. The most you can spend is R 100.00.</p>') in html
    assert ("<html" in html) is not htmx  # the whole page without JavaScript
    wallet = _wallet(db, me.wallet.id)
    assert wallet.balance == Decimal("100.00") and wallet.water_credit == Decimal("0.00")
    assert _count_transactions(db, me.wallet.id) == 0 and sent.transactions == []


def test_buy_refuses_a_utility_the_estate_does_not_sell(app, db, make):
    from tests.conftest import Auth

    wallet = make.wallet("100.00", estate_obj=make.estate(tariffs={"electricity": "3.00"}))
    make.resident(wallet, email="elec@example.test")
    auth = Auth(app.test_client())
    auth.login("elec@example.test")
    response = auth.client.post(f"/me/wallets/{wallet.id}/purchases",
                                data={"amount": "10", "utility": "water",
                                      "idempotency_key": "x"},
                                headers={**HX, "X-CSRFToken": auth.csrf})
    assert response.status_code == 422
    assert "Choose a utility this estate sells." in _text(response)
    assert _count_transactions(db, wallet.id) == 0


# -- alert settings ---------------------------------------------------------------------------

def test_alert_settings_are_saved_within_the_estate_bounds(me, db, sent):
    response = me.post(f"/me/wallets/{me.wallet.id}/alerts",
                       {"alert_mode": "days", "low_balance_threshold": "120",
                        "low_balance_days": "5"})
    assert response.status_code == 200 and "Saved." in _text(response)
    assert "fewer than 5 days of credit" in _text(response)
    wallet = _wallet(db, me.wallet.id)
    assert (wallet.alert_mode, wallet.low_balance_threshold, wallet.low_balance_days) == \
        ("days", Decimal("120.00"), 5)
    assert sent.wallets == [me.wallet.id]


def test_a_zero_alert_level_turns_alerts_off(me, db):
    response = me.post(f"/me/wallets/{me.wallet.id}/alerts",
                       {"alert_mode": "amount", "low_balance_threshold": "0",
                        "low_balance_days": "3"})
    assert "Credit alerts are off" in _text(response)
    assert _wallet(db, me.wallet.id).low_balance_threshold == 0


@pytest.mark.parametrize("data, field, message", [
    ({"low_balance_threshold": "1000"}, "threshold", "from R 20.00 to R 500.00"),
    ({"low_balance_threshold": "10"}, "threshold", "from R 20.00 to R 500.00"),
    ({"low_balance_threshold": "lots"}, "threshold", "Enter an amount in rand"),
    ({"low_balance_days": "0"}, "days", "from 1 to 60"),
    ({"low_balance_days": "61"}, "days", "from 1 to 60"),
    ({"alert_mode": "weekly"}, "mode", "Choose amount or days."),
])
def test_invalid_alert_settings_save_nothing_and_show_the_error_beside_the_field(
        me, db, sent, data, field, message):
    form = {"alert_mode": "days", "low_balance_threshold": "100", "low_balance_days": "4",
            **data}
    response = me.post(f"/me/wallets/{me.wallet.id}/alerts", form)
    html = _text(response)
    assert response.status_code == 422 and message in html
    assert f'id="alerts-{field}-{me.wallet.id}-error"' in html
    wallet = _wallet(db, me.wallet.id)
    assert (wallet.alert_mode, wallet.low_balance_threshold, wallet.low_balance_days) == \
        ("amount", Decimal("50.00"), 3)
    assert sent.wallets == []


def test_invalid_alert_settings_without_javascript_show_the_page_with_errors(me):
    response = me.post(f"/me/wallets/{me.wallet.id}/alerts",
                       {"low_balance_threshold": "9999", "csrf_token": me.csrf}, htmx=False)
    assert response.status_code == 422 and "<html" in _text(response)
    assert "from R 20.00 to R 500.00" in _text(response)


def test_the_alert_preview_tells_the_state_the_settings_would_give(me):
    url = f"/me/wallets/{me.wallet.id}/alerts/preview"
    low = me.client.get(url, query_string={"alert_mode": "amount",
                                           "low_balance_threshold": "150"}, headers=HX)
    assert "your credit would show as low" in _text(low)
    bad = me.client.get(url, query_string={"low_balance_threshold": "abc"}, headers=HX)
    assert bad.status_code == 200 and "would show" not in _text(bad)


# -- page or fragment ------------------------------------------------------------------------

@pytest.mark.parametrize("path, anchor", [("/balance", "balance"),
                                          ("/transactions", "transactions"),
                                          ("/purchases/preview", "buy")])
def test_widget_routes_give_htmx_a_fragment_and_people_the_page(me, path, anchor):
    url = f"/me/wallets/{me.wallet.id}{path}"
    fragment = me.client.get(url, headers=HX)
    assert fragment.status_code == 200 and "<html" not in _text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    page = me.client.get(url)
    assert page.status_code == 302
    assert page.headers["Location"].endswith(f"/me/wallets/{me.wallet.id}#{anchor}-"
                                             f"{me.wallet.id}")


# -- the inbox -----------------------------------------------------------------------------

def test_the_inbox_is_newest_first_with_unread_critical_and_resolved_marked(me, db):
    low = _notify(db, me.wallet, "low_credit", resolved=True)[0]
    critical = _notify(db, me.wallet, "critical_credit")[0]
    with db.begin():
        notifications.mark_read(db, me.user, low, utcnow())
    html = _text(me.client.get("/me/notifications", headers=HX))
    assert html.lstrip().startswith('<section class="card" id="notifications" '
                                    'aria-label="Notifications"')
    assert html.index(f'data-notification-id="{critical}"') < \
        html.index(f'data-notification-id="{low}"')
    assert f'class="feed-item unread" data-notification-id="{critical}"' in html
    assert '<span class="priority-critical">Critical</span>' in html
    assert f'class="feed-item resolved" data-notification-id="{low}"' in html
    assert '<span class="tag-resolved">Resolved</span>' in html
    assert "1 unread" in html


def test_the_inbox_pages_by_id_and_filters_by_type_and_unread(me, db):
    usage = _notify(db, me.wallet, "high_usage", 12)
    topup = _notify(db, me.wallet, "topup_success")[0]
    first = _text(me.client.get("/me/notifications", headers=HX))
    assert first.count('class="feed-item') == 10 and f'data-notification-id="{topup}"' in first
    older = re.search(r'href="(/me/notifications\?before=\d+)"', first).group(1)
    second = _text(me.client.get(older, headers=HX))
    assert second.count('class="feed-item') == 3 and "Newest" in second and ">Older<" not in second
    shown = set(re.findall(r'data-notification-id="(\d+)"', first + second))
    assert shown == {str(i) for i in usage + [topup]}
    only = _text(me.client.get("/me/notifications?type=topup_success", headers=HX))
    assert only.count('class="feed-item') == 1 and '<option value="topup_success" selected>' in only
    with db.begin():
        notifications.mark_read(db, me.user, topup, utcnow())
    unread = _text(me.client.get("/me/notifications?unread=1", headers=HX))
    assert f'data-notification-id="{topup}"' not in unread
    junk = me.client.get("/me/notifications?type=nope&before=x", headers=HX)
    assert junk.status_code == 200 and _text(junk).count('class="feed-item') == 10


def test_the_notifications_page_works_without_javascript(me, db):
    _notify(db, me.wallet)
    page = me.client.get("/me/notifications")
    assert page.status_code == 200 and "<html" in _text(page)
    assert "Your notifications" in _text(page) and "HX-Request" in page.headers["Vary"]


def test_mark_one_read_tells_every_tab_after_the_commit(me, db, sent):
    first, _second = _notify(db, me.wallet, count=2)
    response = me.post(f"/me/notifications/{first}/read", {"type": "high_usage"})
    assert response.status_code == 200
    assert "1 unread" in _text(response) and '<option value="high_usage" selected>' in \
        _text(response)
    assert sent.unread == [([me.user.id], False)]  # published outside the write transaction
    db.remove()
    assert notifications.unread_count(db, me.user) == 1


def test_mark_all_read_without_javascript_returns_to_the_inbox(me, db, sent):
    _notify(db, me.wallet, count=3)
    response = me.post("/me/notifications/read-all",
                       {"csrf_token": me.csrf, "type": "high_usage"}, htmx=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/me/notifications?type=high_usage")
    assert sent.unread == [([me.user.id], False)]
    db.remove()
    assert notifications.unread_count(db, me.user) == 0
    assert 'data-count="0">0</span>' in _text(me.client.get("/me/notifications"))


def test_notifications_of_other_wallets_never_show(me, db, make):
    other = make.wallet("10.00")
    make.resident(other, email="n2@example.test")
    theirs = _notify(db, other)[0]
    html = _text(me.client.get("/me/notifications", headers=HX))
    assert f'data-notification-id="{theirs}"' not in html
    assert db.get(Notification, theirs) is not None
