"""The resident's experience in Chromium against the live stack (web, worker, Redis).

Each test makes its own estate, wallet, resident and operator in the shared database, so the
tests do not depend on the demo data or on each other.
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from dashboard.models import Wallet, utcnow
from dashboard.services import notifications
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.stack]
LIVE = 15000  # ms: a worker task and a Socket.IO round trip, with room for a slow machine


def _people(stack, balance="100.00", threshold="50.00") -> SimpleNamespace:
    """A fresh estate with a wallet, its resident and an operator."""
    tag = uuid.uuid4().hex[:8]
    with stack.session() as s:
        estate = factories.estate(s, name=f"E2E {tag}",
                                  min_low_balance_threshold=Decimal("10.00"),
                                  max_low_balance_threshold=Decimal("500.00"))
        wallet = factories.wallet(s, balance, threshold=threshold, estate_obj=estate)
        resident = factories.resident(s, wallet, email=f"res-{tag}@example.test",
                                      name=("Lindiwe", "Mokoena"))
        operator = factories.user(s, "operator", email=f"op-{tag}@example.test")
        return SimpleNamespace(wallet_id=wallet.id, resident=resident.email,
                               operator=operator.email)


def _signed_in(page, sign_in, email):
    """Sign in, accept every confirmation, and wait until the live socket is up."""
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, email)
    expect(page.locator("#connection-status")).to_have_text("Live", timeout=LIVE)


def test_operator_purchase_alerts_live_and_a_top_up_resolves_it(page, stack, sign_in, shoot):
    p = _people(stack)
    _signed_in(page, sign_in, p.resident)
    badge = page.get_by_role("status", name="unread notifications")
    inbox = page.get_by_role("region", name="Notifications")
    expect(badge).to_have_text("0")

    token = stack.token(p.operator)
    made = stack.api("POST", f"/wallets/{p.wallet_id}/purchases", token,
                     json={"utility": "electricity", "amount": "60.00"})
    assert made.status_code == 201, made.text

    # Without a reload: the toast, the badge, the inbox item and the balance card.
    expect(page.locator("#toasts")).to_contain_text("Your credit is running low", timeout=LIVE)
    expect(badge).to_have_text("2", timeout=LIVE)
    low = inbox.locator(".feed-item", has_text="Your credit is running low")
    expect(low).to_have_class("feed-item unread")
    expect(inbox.locator(".feed-item").first).to_have_class("feed-item unread")
    expect(page.locator("[data-wallet-balance]")).to_have_text("R 40.00")
    expect(page.locator(".wallet-state")).to_contain_text("Your credit is low")

    # Top up: the payment page (the test gateway plays the provider), Pay, and back. The
    # wallet is credited when the provider's signed webhook arrives, a moment later.
    page.get_by_label("Amount (R)").first.fill("100")
    page.get_by_role("button", name="Top up").dblclick()  # an impatient double click pays once
    expect(page.get_by_role("heading", name="Test payment gateway")).to_be_visible(timeout=LIVE)
    expect(page.locator("[data-gateway-amount]")).to_have_text("R 100.00")
    shoot(page, "payment-gateway")
    page.get_by_role("button", name="Pay").click()
    expect(page.locator("#connection-status")).to_have_text("Live", timeout=LIVE)
    card = page.locator(f"#payment-{p.wallet_id}")
    expect(card).to_contain_text("Payment received: R 100.00 was added to your wallet.",
                                 timeout=LIVE)
    expect(page.locator("#toasts")).to_contain_text("Top-up received", timeout=LIVE)
    inbox = page.get_by_role("region", name="Notifications")
    expect(inbox.locator(".feed-item").first).to_contain_text("Top-up received", timeout=LIVE)
    low = inbox.locator(".feed-item", has_text="Your credit is running low")
    expect(low.locator(".tag-resolved")).to_have_text("Resolved", timeout=LIVE)
    expect(page.locator("[data-wallet-balance]")).to_have_text("R 140.00", timeout=LIVE)
    expect(page.locator(".wallet-state")).to_contain_text("Your credit is fine")
    ledger = stack.api("GET", f"/wallets/{p.wallet_id}/transactions", token).json()["items"]
    assert [t["type"] for t in ledger] == ["topup", "purchase"]  # one top-up, not two
    shoot(page, "resident-live")


def test_a_declined_payment_is_shown_and_credits_nothing(page, stack, sign_in, shoot):
    p = _people(stack)
    _signed_in(page, sign_in, p.resident)
    page.get_by_label("Amount (R)").first.fill("50")
    page.get_by_label("Pay by").select_option("instant_eft")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_role("heading", name="Test payment gateway")).to_be_visible(timeout=LIVE)
    page.get_by_role("button", name="Decline").click()
    expect(page.get_by_text("You declined the payment of R 50.00.")).to_be_visible(timeout=LIVE)
    expect(page.locator(f"#payment-{p.wallet_id}")).to_contain_text(
        "Your payment of R 50.00 was declined. Nothing was added to your wallet",
        timeout=LIVE)
    expect(page.locator("[data-wallet-balance]")).to_have_text("R 100.00")
    token = stack.token(p.resident)
    assert stack.api("GET", f"/wallets/{p.wallet_id}/transactions", token).json()[
        "items"] == []
    assert stack.api("GET", f"/wallets/{p.wallet_id}", token).json()["balance"] == "100.00"
    shoot(page, "payment-declined")


def test_mark_all_read_sets_the_badge_to_zero_in_two_open_tabs(page, stack, sign_in):
    p = _people(stack)
    with stack.session() as s:
        now = utcnow()
        notifications.store(s, [notifications.notification_row(
            "high_usage", f"High electricity use {i}", "Check the geyser.",
            dedup_key=f"e2e-{uuid.uuid4().hex}", now=now, wallet_id=p.wallet_id)
            for i in range(3)])
    _signed_in(page, sign_in, p.resident)
    second = page.context.new_page()
    second.goto(stack.url + "/me/notifications")
    expect(second.locator("#connection-status")).to_have_text("Live", timeout=LIVE)
    badges = [tab.get_by_role("status", name="unread notifications") for tab in (page, second)]
    for badge in badges:
        expect(badge).to_have_text("3")

    page.get_by_role("button", name="Mark all read").click()
    for badge in badges:
        expect(badge).to_have_text("0", timeout=LIVE)
    expect(second.locator(".feed-item.unread")).to_have_count(0, timeout=LIVE)


def test_buying_more_than_the_balance_shows_an_error_and_keeps_the_balance(page, stack,
                                                                           sign_in, shoot):
    p = _people(stack, balance="30.00", threshold="20.00")
    _signed_in(page, sign_in, p.resident)
    buy = page.locator(f"#buy-{p.wallet_id}")
    buy.get_by_label("Utility").select_option("electricity")
    buy.get_by_label("Amount (R)").fill("50")
    expect(buy.locator("output")).to_have_text("R 50.00 buys 20 kWh of electricity.")
    buy.get_by_role("button", name="Buy").click()

    amount = buy.get_by_label("Amount (R)")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(buy.locator(".field-error")).to_contain_text(
        "The balance of R 30.00 is less than R 50.00")
    expect(page.locator("[data-wallet-balance]")).to_have_text("R 30.00")
    wallet = stack.api("GET", f"/wallets/{p.wallet_id}", stack.token(p.resident)).json()
    assert wallet["balance"] == "30.00" and wallet["balances"]["electricity"] == "0.00"
    shoot(page, "resident-buy-error")


def test_another_residents_wallet_is_not_found(page, stack, sign_in):
    mine, theirs = _people(stack), _people(stack)
    sign_in(page, mine.resident)
    response = page.goto(f"{stack.url}/me/wallets/{theirs.wallet_id}")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.goto(f"{stack.url}/me/wallets/{mine.wallet_id}").status == 200


def test_the_balance_card_says_when_the_credit_runs_out_and_until_when_the_supply_stays(
        page, stack, sign_in, shoot):
    """A wallet whose credit runs out in the middle of the coming weekend: the resident's
    balance card names the run-out and the Monday 07:00 the friendly hours keep the supply
    on until, each with its exact time for assistive technology."""
    from datetime import datetime, timedelta, timezone

    from dashboard.services.demo import showcase
    from dashboard.services.forecast import FriendlyHours
    from dashboard.services.forecast.calendar import runs
    from dashboard.services.forecast.runout import forecast

    now = datetime.now(timezone.utc)
    hours = FriendlyHours("Africa/Johannesburg")
    weekend = next((lo, hi) for lo, hi in runs(hours, now, now + timedelta(days=14))
                   if lo > now and hi - lo > timedelta(days=2))
    balance = Decimal(showcase.balance_for(weekend, now)(30_000)) / 100  # R 300 a month
    p = _people(stack, balance=f"{balance:.2f}")
    with stack.session() as s:
        wallet = s.get(Wallet, p.wallet_id)
        wallet.unit.estate.timezone = "Africa/Johannesburg"
        factories.purchase_history(s, wallet, ["300.00"], days_ago=1)
    expected = forecast(balance, Decimal("300.00"), now, hours)
    assert expected.friendly and expected.supply_until == weekend[1]

    _signed_in(page, sign_in, p.resident)
    card = page.locator(".wallet-forecast")
    expect(card).to_contain_text("Your credit runs out around", timeout=LIVE)
    expect(card).to_contain_text(
        f"friendly hours keep your supply on until {expected.supply_text}")
    shown = datetime.fromisoformat(card.locator("time").first.get_attribute("datetime"))
    assert abs(shown - expected.runs_out_at) < timedelta(minutes=2)
    assert card.locator("time").nth(1).get_attribute("datetime") == \
        expected.supply_until.isoformat()
    shoot(page, "resident-run-out")
