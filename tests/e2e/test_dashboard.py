"""The operator dashboard in Chromium against the live stack (web, worker, Redis).

Each test makes its own operator and estate in the shared database, signs in through the real
form and works the pages as a person would; screenshots of every page land in screenshots/.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from dashboard.models import Estate, Meter, MeterReading, Transaction, Wallet, utcnow
from dashboard.services import notifications
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.stack]
LIVE = 15000  # ms: a scan, its events and the htmx refreshes, with room for a slow machine


def _operator_and_estate(stack, wallets=(), name="E2E", readings=False):
    """A new operator and an estate with wallets of the given balances (threshold R 50);
    with `readings`, 30 days of meter readings for the first wallet's chart."""
    tag = uuid.uuid4().hex[:6]
    with stack.session() as s:
        user = factories.user(s, "operator", email=f"op-{tag}@example.test")
        estate = factories.estate(s, name=f"{name} {tag}")
        made = [factories.wallet(s, balance, estate_obj=estate, meters=True) for balance in wallets]
        if made:  # one notification of the estate's own, for the log to find
            notifications.store(s, [notifications.notification_row(
                "high_usage", f"High use in {estate.name}", f"A test notice for {estate.name}.",
                dedup_key=f"e2e:{tag}", now=utcnow(), wallet_id=made[0].id)])
        if readings:
            _readings(s, made[0].unit_id)
        info = (user.email, estate.id, estate.name, [(w.id, w.unit_id) for w in made])
    return info


def _readings(session, unit_id):
    """A month of daily readings per meter, with one heavy day to highlight."""
    now = utcnow()
    for meter in session.query(Meter).filter_by(unit_id=unit_id):
        base = Decimal("12.5") if meter.utility == "electricity" else Decimal("0.4")
        total = Decimal(0)
        for day in range(29, -1, -1):
            use = base * (3 if day == 1 else 1) + Decimal(day % 5) * base / 10
            total += use
            session.add(MeterReading(meter_id=meter.id, reading=total, consumption=use,
                                     taken_at=now - timedelta(days=day, hours=1)))


# Elements sticking out past a phone's screen edge, other than inside sideways-scrolling
# table wrappers (which are meant to be wider than the screen).
OVERFLOW_JS = """() => [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap'))
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className).slice(0, 5)"""


def snap(page, shoot, name):
    """Screenshots from the top of the page (the sticky bar otherwise lands mid-page), without
    passing toasts, after checking that nothing is wider than a 375 px phone."""
    original = page.viewport_size
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate(OVERFLOW_JS) == [], f"{name} is wider than a phone"
    page.set_viewport_size(original)
    page.locator(".toast-close").evaluate_all("buttons => buttons.forEach(b => b.click())")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, name)


@pytest.fixture
def operator_page(page):
    """The page, accepting every data-confirm question (the operator means it)."""
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def test_run_now_shows_progress_history_and_feed_without_reload(operator_page, stack, sign_in,
                                                                  shoot):
    page = operator_page
    email, _eid, estate_name, _wallets = _operator_and_estate(stack, ["20.00", "30.00"])
    sign_in(page, email)
    page.goto(stack.url + "/scans")
    expect(page.locator("#connection-status")).to_have_text("Live", timeout=10000)
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    region = page.get_by_role("region", name="check_low_credit_wallets")
    expect(region.get_by_role("heading", name="check_low_credit_wallets")).to_be_visible()
    expect(region).to_contain_text("Daily at 06:00")
    region.get_by_role("button", name="Run now").click()

    bar = region.locator("progress[data-task-run-id]")
    expect(bar).to_be_visible()
    run_id = bar.get_attribute("data-task-run-id")
    expect(region.locator(f'progress[data-task-run-id="{run_id}"]')).to_have_attribute(
        "data-state", "succeeded", timeout=LIVE)
    expect(page.locator(f"#run-{run_id}")).to_contain_text("succeeded", timeout=LIVE)
    feed = page.get_by_role("region", name="Live notifications")
    expect(feed).to_contain_text(estate_name, timeout=LIVE)
    expect(region.get_by_role("button", name="Run now")).to_be_enabled(timeout=LIVE)
    assert page.evaluate("window.__sameDocument") is True
    snap(page, shoot, "dash-scans")

    page.get_by_label("Scan", exact=True).select_option("check_low_credit_wallets")
    expect(page.locator("#task-history tbody tr").first).to_contain_text("check_low_credit")
    page.goto(f"{stack.url}/scans/runs/{run_id}")
    expect(page.get_by_role("heading", name=f"Run {run_id}: check_low_credit_wallets")).to_be_visible()
    expect(page.locator(".feed")).to_contain_text(estate_name)
    snap(page, shoot, "dash-run")
    page.goto(stack.url + "/")
    expect(page.get_by_role("region", name="Live notifications")).to_contain_text(estate_name)
    snap(page, shoot, "dash-overview")


def test_alert_settings_refuse_bad_values_then_save_and_top_up(operator_page, stack, sign_in,
                                                               shoot):
    page = operator_page
    email, _eid, _name, [(wallet_id, _unit)] = _operator_and_estate(stack, ["40.00"],
                                                                     readings=True)
    sign_in(page, email)
    page.goto(f"{stack.url}/wallets/{wallet_id}")
    threshold = page.get_by_label("Alert below (R)")
    expect(threshold).to_have_value("50.00")

    threshold.fill("12,50")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#low_balance_threshold-error")).to_be_visible()
    expect(page.get_by_label("Alert below (R)")).to_have_attribute("aria-invalid", "true")
    with stack.session() as s:
        assert s.get(Wallet, wallet_id).low_balance_threshold == Decimal("50.00")
    snap(page, shoot, "dash-wallet-error")

    page.get_by_label("Alert below (R)").fill("30.00")
    expect(page.locator("#settings-preview")).to_contain_text("would be ok")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("region", name="Alert settings")).to_contain_text("Alert settings saved")
    with stack.session() as s:
        saved = s.get(Wallet, wallet_id)
        assert (saved.low_balance_threshold, saved.state) == (Decimal("30.00"), "ok")

    page.locator("#topup-amount").fill("100.00")
    page.get_by_role("button", name="Top up", exact=True).click()
    expect(page.locator("#wallet-pay")).to_contain_text("Topped up R 100.00")
    expect(page.get_by_role("region", name="Balance", exact=True)).to_contain_text("R 140.00", timeout=LIVE)
    page.locator("#buy-amount").fill("25.00")
    expect(page.locator("#purchase-quote")).to_contain_text("kWh")
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("#wallet-pay")).to_contain_text("Bought 10.000 kWh")
    expect(page.get_by_role("region", name="Transactions")).to_contain_text("Electricity",
                                                                           timeout=LIVE)
    with stack.session() as s:
        assert s.query(Transaction).filter_by(wallet_id=wallet_id).count() == 2
    snap(page, shoot, "dash-wallet")


def test_wallet_list_filters_and_pages(operator_page, stack, sign_in, shoot):
    page = operator_page
    balances = ["20.00"] * 7 + ["500.00"] * 3  # seven low, three ok
    email, _eid, estate_name, _wallets = _operator_and_estate(stack, balances, name="Paging")
    sign_in(page, email)
    page.goto(stack.url + "/wallets?limit=3")
    snap(page, shoot, "dash-wallets")
    page.get_by_label("Search", exact=True).fill(estate_name)
    page.get_by_label("State", exact=True).select_option("low")
    rows = page.locator("#wallet-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=estate_name)).to_have_count(3)
    expect(rows.filter(has_text="low")).to_have_count(3)
    units = rows.locator("td:first-child")
    first_page = units.all_inner_texts()

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(units.first).not_to_have_text(first_page[0])
    expect(rows.filter(has_text=estate_name)).to_have_count(3)
    assert not set(first_page) & set(units.all_inner_texts())
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_text("End of the list.")).to_be_visible()


def test_thresholds_preview_then_apply_and_the_log(operator_page, stack, sign_in, shoot):
    page = operator_page
    email, estate_id, estate_name, _wallets = _operator_and_estate(
        stack, ["60.00", "70.00", "300.00"], name="Bulk")
    sign_in(page, email)
    page.goto(stack.url + "/thresholds")
    page.get_by_label("Estate", exact=True).select_option(label=estate_name)
    page.get_by_label("Alert below (R)").fill("100.00")
    impact = page.locator("#bulk-impact")
    expect(impact).to_contain_text("applies to 3 wallets")
    expect(impact).to_contain_text("This would put 2 wallets into low")
    snap(page, shoot, "dash-thresholds")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").filter(has_text="Saved for 3 wallets")).to_be_visible()
    with stack.session() as s:
        states = sorted(w.state for w in s.query(Wallet).join(Wallet.unit)
                        .filter_by(estate_id=estate_id))
        assert states == ["low", "low", "ok"]
        assert s.get(Estate, estate_id).default_low_balance_threshold == Decimal("50.00")

    page.goto(stack.url + "/notifications")
    page.get_by_label("Estate", exact=True).select_option(label=estate_name)
    page.get_by_label("Type", exact=True).select_option("high_usage")
    rows = page.locator("#notification-log tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"High use in {estate_name}")
    expect(rows.first.get_by_role("link", name="Wallet of unit")).to_have_attribute(
        "href", re.compile(r"/wallets/\d+"))
    snap(page, shoot, "dash-notifications")
