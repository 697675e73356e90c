"""A scan's notifications in Chromium: an operator watching the overview sees them arrive in
the live feed (one refresh per chunk, from `notifications_batch`) with one summary toast; a
resident whose page is connected during the scan gets the toast live; one whose page was
not connected gets it through `sync` when it connects. The unread badges stay right."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dashboard.models import Notification
from tests import factories
from tests.livestack import unique_email
from tests.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

SCAN = "check_low_credit_wallets"


def low_resident(stack) -> tuple[int, str]:
    """(wallet id, email) of a new low wallet (R 30 under R 50) with a resident login."""
    email = unique_email("scan-res")
    with stack.session() as s:
        wallet = factories.wallet(s, "30.00", threshold="50.00")
        factories.resident(s, wallet, email=email)
        return wallet.id, email


def run_scan(stack, token: str) -> int:
    """Run now, then wait until the run has succeeded; its id."""
    r = stack.api("POST", f"/scans/{SCAN}/run", token)
    assert r.status_code == 202, r.text
    run_id = r.json()["task_run"]["id"]
    wait_for(lambda: stack.api("GET", f"/task-runs/{run_id}", token).json()["state"]
             == "succeeded", timeout=60, interval=0.2)
    return run_id


def alert_of(stack, run_id: int, wallet_id: int) -> int:
    """The id of the run's alert for this wallet."""
    with stack.session() as s:
        return s.scalar(select(Notification.id).where(Notification.task_run_id == run_id,
                                                      Notification.wallet_id == wallet_id))


def test_a_scan_reaches_the_feed_the_connected_and_later_the_reconnecting(browser, stack,
                                                                          sign_in):
    operator_email = unique_email("scan-op")
    with stack.session() as s:
        factories.user(s, "operator", email=operator_email)
    watching_wallet, watching_email = low_resident(stack)
    away_wallet, away_email = low_resident(stack)
    pages = {}
    for name, email in (("operator", operator_email), ("watching", watching_email),
                        ("away", away_email)):
        pages[name] = browser.new_context().new_page()
        sign_in(pages[name], email)
        expect(pages[name].locator("#connection-status")).to_have_text("Live", timeout=15000)
    operator, watching, away = pages["operator"], pages["watching"], pages["away"]
    feed = operator.get_by_role("region", name="Live notifications")
    expect(feed).to_be_visible()
    for page in (watching, away):
        expect(page.get_by_role("status", name="unread notifications")).to_have_text("0")
    # The away resident's page stays open but its socket is closed for the whole scan, so
    # no live event can reach it: only its sync after reconnecting can.
    away.evaluate("window.quantifyLive.socket.disconnect()")
    expect(away.locator("#connection-status")).to_have_text("Offline")

    run_id = run_scan(stack, stack.token(operator_email))
    ids = {name: alert_of(stack, run_id, w) for name, w in (("watching", watching_wallet),
                                                           ("away", away_wallet))}
    assert all(ids.values())

    # The operator: the rows appear through the feed's own route; a summary toast, and no
    # toast per notification.
    for nid in ids.values():
        expect(feed.locator(f'[data-notification-id="{nid}"]')).to_be_visible(timeout=15000)
    toasts = operator.locator("#toasts .toast")
    expect(toasts.filter(has_text="new notifications")).to_have_count(1)
    expect(toasts.filter(has_text="Your credit is running low")).to_have_count(0)

    # The resident connected during the scan: the toast and the badge, live.
    expect(watching.locator("#toasts")).to_contain_text("Your credit is running low",
                                                        timeout=15000)
    expect(watching.get_by_role("status", name="unread notifications")).to_have_text("1")

    # The one that was away: nothing yet; on reconnecting, its sync brings it.
    expect(away.locator("#toasts .toast")).to_have_count(0)
    away.evaluate("window.quantifyLive.socket.connect()")
    expect(away.locator("#connection-status")).to_have_text("Live", timeout=15000)
    expect(away.locator("#toasts")).to_contain_text("Your credit is running low",
                                                    timeout=15000)
    expect(away.get_by_role("status", name="unread notifications")).to_have_text("1")
    # ... and the sync's acknowledgement (just after the replies) moves where the next starts.
    away.wait_for_function("id => window.quantifyLive.syncAfter() >= id", arg=ids["away"],
                           timeout=15000)
    for page in pages.values():
        page.context.close()
