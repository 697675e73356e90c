"""A resident named `<script>alert(1)</script>`, living in a unit and estate whose names are
markup too, seen in Chromium by the resident and by an operator: every page and every toast
shows the text, nothing runs. A dialog listener fails the test if any alert() fires."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.livestack import unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

NAME = "<script>alert(1)</script>"
ESTATE = "<script>alert('estate')</script>"
UNIT = "<svg onload=alert()>"  # units.number holds 20 characters


@pytest.fixture
def hostile(stack):
    """A wallet in a hostile estate and unit, its hostile resident, and an operator."""
    resident, operator = unique_email("xss-res"), unique_email("xss-op")
    with stack.session() as s:
        estate = factories.estate(s, name=ESTATE)
        wallet = factories.wallet(s, "200.00", estate_obj=estate)
        wallet.unit.number = UNIT
        factories.resident(s, wallet, email=resident, name=(NAME, "<b>Bold</b>"))
        factories.user(s, "operator", email=operator)
        wallet_id = wallet.id
    return wallet_id, resident, operator


def watch(page) -> list[str]:
    """Dialogs (alert, confirm, prompt) that fire on the page: there must be none."""
    fired: list[str] = []

    def on_dialog(dialog):
        fired.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return fired


def assert_nothing_injected(page) -> None:
    """No script without a src, no element with an event handler or from the data."""
    counts = page.evaluate("""() => ({
        inline: document.querySelectorAll('script:not([src])').length,
        handlers: [...document.querySelectorAll('*')].filter(
            el => [...el.attributes].some(a => a.name.startsWith('on'))).length,
        images: document.querySelectorAll('img[src="x"]').length,
        bold: [...document.querySelectorAll('b')].filter(b => b.textContent === 'Bold').length,
    })""")
    assert counts == {"inline": 0, "handlers": 0, "images": 0, "bold": 0}, counts


def test_hostile_names_show_as_text_on_pages_and_in_toasts(browser, stack, sign_in, hostile):
    """The resident's own page and toast, then the operator's wallet list, wallet page,
    notifications log and toast: the names are visible as typed and no alert fires."""
    wallet_id, resident, operator = hostile
    token = stack.token(operator)

    resident_page = browser.new_page()
    fired = watch(resident_page)
    sign_in(resident_page, resident)
    expect(resident_page.locator(".nav-user")).to_contain_text(f"{NAME} <b>Bold</b>")
    expect(resident_page.locator("#connection-status")).to_have_text("Live", timeout=10000)
    r = stack.api("POST", f"/wallets/{wallet_id}/topups", token,
                  json={"amount": "10.00", "method": "eft"})
    assert r.status_code == 201, r.text
    toast = resident_page.locator("#toasts .toast").filter(has_text="Top-up received")
    expect(toast).to_be_visible(timeout=15000)
    expect(toast).to_contain_text(UNIT)
    expect(toast).to_contain_text(ESTATE)
    assert_nothing_injected(resident_page)

    operator_page = browser.new_page()
    fired += watch(operator_page)
    sign_in(operator_page, operator)
    operator_page.goto(f"{stack.url}/wallets?q=%3Cscript")
    expect(operator_page.locator("main")).to_contain_text(NAME)
    assert_nothing_injected(operator_page)
    operator_page.goto(f"{stack.url}/wallets/{wallet_id}")
    expect(operator_page.locator("main")).to_contain_text(f"{NAME} <b>Bold</b>")
    expect(operator_page.locator("main")).to_contain_text(UNIT)
    assert_nothing_injected(operator_page)
    operator_page.goto(f"{stack.url}/notifications")
    expect(operator_page.locator("main")).to_contain_text(ESTATE)
    expect(operator_page.locator("#connection-status")).to_have_text("Live", timeout=10000)
    r = stack.api("POST", f"/wallets/{wallet_id}/purchases", token,
                  json={"amount": "5.00", "utility": "electricity"})
    assert r.status_code == 201, r.text
    toast = operator_page.locator("#toasts .toast").filter(has_text="bought")
    expect(toast).to_be_visible(timeout=15000)
    expect(toast).to_contain_text(UNIT)
    assert_nothing_injected(operator_page)
    assert_nothing_injected(resident_page)

    assert fired == [], f"a dialog fired: {fired}"
    resident_page.close()
    operator_page.close()
