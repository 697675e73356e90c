"""Signing in through the real form in Chromium, as the demo operator and resident."""
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.stack]


def test_demo_operator_signs_in_and_sees_the_dashboard(page, sign_in, shoot):
    sign_in(page, "operator@example.com", "demo-operator")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Live notifications")).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text("Live", timeout=10000)
    shoot(page, "overview")


def test_demo_resident_signs_in_and_sees_their_wallet(page, sign_in, shoot):
    sign_in(page, "resident@example.com", "demo-resident")
    expect(page.get_by_role("heading", name="My wallet")).to_be_visible()
    expect(page.get_by_text("R ", exact=False).first).to_be_visible()
    expect(page.get_by_role("region", name="Notifications")).to_be_visible()
    expect(page.get_by_role("status", name="unread notifications")).to_be_visible()
    shoot(page, "resident-home")


def test_wrong_password_shows_an_error(page, stack):
    page.goto(stack.url + "/login")
    page.get_by_label("Email").fill("operator@example.com")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
