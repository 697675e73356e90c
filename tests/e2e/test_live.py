"""The live client in Chromium: a resident's toast and badge update without a reload when an
operator buys credit for their wallet, and the page survives a Redis restart by itself,
showing "Reconnecting…" meanwhile and then what it missed.

The restart test runs on a private stack (own redis-server, database, web and worker; see
tests/livestack.py) so the shared session stack never loses its Redis.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.livestack import LiveStack, init_publisher, notify, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.stack]


def make_resident(stack, balance: str, threshold: str = "50.00"):
    """(wallet_id, resident email, operator email) in the stack's database."""
    email, operator = unique_email("live-res"), unique_email("live-op")
    with stack.session() as s:
        wallet = factories.wallet(s, balance, threshold=threshold)
        factories.resident(s, wallet, email=email)
        factories.user(s, "operator", email=operator)
        wallet_id = wallet.id
    return wallet_id, email, operator


def sign_in_at(page, base_url: str, email: str, password: str = "correct-horse-battery"):
    """Through the real form, as a person would."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_purchase_shows_toasts_and_updates_the_badge_without_a_reload(page, stack):
    wallet, email, operator = make_resident(stack, "100.00")
    sign_in_at(page, stack.url, email)
    status = page.locator("#connection-status")
    badge = page.get_by_role("status", name="unread notifications")
    expect(status).to_have_text("Live", timeout=10000)
    expect(badge).to_have_text("0")
    page.evaluate("window.__sameDocument = true")

    # R 95 of R 100: R 5 left, under a fifth of the R 50 threshold, so critical.
    r = stack.api("POST", f"/wallets/{wallet}/purchases", stack.token(operator),
                  json={"utility": "electricity", "amount": "95.00"})
    assert r.status_code == 201, r.text

    toasts = page.locator("#toasts")
    expect(toasts.locator(".toast").filter(has_text="Electricity bought")).to_be_visible(
        timeout=15000)
    critical = toasts.locator(".toast-critical").filter(has_text="almost finished")
    expect(critical).to_be_visible(timeout=15000)
    expect(critical).to_have_attribute("role", "alert")  # announced at once
    expect(badge).to_have_text("2")

    # A notification whose publish never arrived while the websocket stayed up (a Redis blip
    # on the publisher's side): the next sync, here the tab coming back to the front, finds it.
    notify(stack, wallet, kind="low_credit", title="Never published", publish=False)
    page.wait_for_function(
        """() => {
            document.dispatchEvent(new Event("visibilitychange"));
            return document.getElementById("toasts").textContent.includes("Never published 1");
        }""", polling=500, timeout=10000)
    expect(badge).to_have_text("3")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A private stack whose Redis the tests may restart."""
    stack = LiveStack(tmp_path_factory.mktemp("live"))
    try:
        stack.start("web", "worker")
        yield stack
    finally:
        stack.close()


def test_a_redis_restart_shows_reconnecting_then_recovers_with_what_was_missed(page, live):
    wallet, email, operator = make_resident(live, "500.00")
    init_publisher(live)
    sign_in_at(page, live.url, email)
    status = page.locator("#connection-status")
    badge = page.get_by_role("status", name="unread notifications")
    toasts = page.locator("#toasts")
    expect(status).to_have_text("Live", timeout=10000)
    expect(badge).to_have_text("0")

    live.stop_redis()
    # The web notices its Redis subscription is gone and closes its sockets; the page says so
    # instead of claiming to be live while it would miss events.
    expect(status).to_have_text("Reconnecting…", timeout=10000)
    expect(status).to_have_attribute("data-state", "reconnecting")
    # Committed while Redis is down: its publish fails, so only sync can deliver it.
    notify(live, wallet, kind="low_credit", title="Stored while Redis was down")
    page.wait_for_timeout(1500)
    expect(status).to_have_text("Reconnecting…")  # still honest: Redis is still down

    live.start_redis()
    notify(live, wallet, kind="low_credit", title="Stored as Redis came back")
    # Recovery is the point, not its speed: a loaded machine (PostgreSQL beside the stack) can
    # take more than 20 s to restart Redis, resubscribe the web and reconnect the page.
    expect(status).to_have_text("Live", timeout=45000)
    expect(toasts).to_contain_text("Stored while Redis was down 1", timeout=10000)
    expect(toasts).to_contain_text("Stored as Redis came back 1")
    expect(badge).to_have_text("2")

    # The whole path works again: API → broker → worker → Redis → web → this page.
    r = live.api("POST", f"/wallets/{wallet}/topups", live.token(operator),
                 json={"amount": "10.00", "method": "eft"})
    assert r.status_code == 201, r.text
    expect(toasts).to_contain_text("Top-up received", timeout=30000)
    expect(badge).to_have_text("3")
