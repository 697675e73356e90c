"""A resident saves an email and a number on the settings page, falls to critical, sees the
toast, and the operator's Deliveries page shows the email and the SMS `sent`; the Outbox
shows what the local SMTP server and SMS sink received.

A private stack (tests/chaos.py: its own database and Redis, web and worker) whose channels
point at an SMTP server and an SMS sink running in this process, writing to an outbox."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboard.cli.redis_server import free_port
from dashboard.cli.sinks import SmsSink, SmtpSink, email_url, sms_url
from dashboard.models import QuietHours
from tests import factories
from tests.chaos import KillableStack
from tests.livestack import unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.stack]


@pytest.fixture
def channel_stack(tmp_path):
    """Web and worker with email and SMS going to local servers (and the Outbox)."""
    outbox = tmp_path / "outbox"
    smtp = SmtpSink(free_port(), folder=outbox).start()
    sms = SmsSink(free_port(), folder=outbox).start()
    stack = KillableStack(tmp_path, EMAIL_URL=email_url(smtp.controller.port),
                          SMS_URL=sms_url(sms.server_address[1]), OUTBOX_DIR=str(outbox),
                          PUBLIC_URL="http://dash.example.test")
    stack.start("web", "worker")
    stack.smtp, stack.sms = smtp, sms
    yield stack
    stack.close()
    smtp.stop()
    sms.stop()


def sign_in_at(page, base_url: str, email: str, password: str = "correct-horse-battery"):
    """Through the real form."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_settings_then_critical_reach_the_resident_by_toast_email_and_sms(browser,
                                                                         channel_stack):
    stack = channel_stack
    email, operator = unique_email("ch-res"), unique_email("ch-op")
    with stack.session() as s:
        wallet = factories.wallet(s, "100.00")
        user = factories.resident(s, wallet, email=email)
        factories.user(s, "operator", email=operator)
        # Quiet hours that never hold anything, whatever the hour the test runs at (critical
        # alerts would go through them anyway).
        s.merge(QuietHours(user_id=user.id, start_minute=0, end_minute=0))
        wallet_id = wallet.id

    resident = browser.new_page()
    sign_in_at(resident, stack.url, email)
    resident.get_by_role("link", name="Settings").click()
    resident.get_by_label("Email", exact=True).fill("alerts@example.test")
    resident.get_by_label("Mobile number").fill("082 12 34 567")
    channels = resident.get_by_role("region", name="Alert channels")
    expect(channels.get_by_role("checkbox", name="Critical credit by SMS")).to_be_checked()
    expect(channels.get_by_role("checkbox", name="Low credit by SMS")).not_to_be_checked()
    resident.get_by_role("button", name="Save").click()
    expect(resident.get_by_text("Saved. Your alerts go where you chose.")).to_be_visible()
    expect(resident.get_by_label("Mobile number")).to_have_value("+27821234567")

    resident.get_by_role("link", name="My wallet", exact=True).click()
    expect(resident.locator("#connection-status")).to_have_text("Live", timeout=10000)
    r = stack.api("POST", f"/wallets/{wallet_id}/purchases", stack.token(operator),
                  json={"utility": "electricity", "amount": "95.00"})
    assert r.status_code == 201, r.text
    toast = resident.locator("#toasts .toast-critical").filter(has_text="almost finished")
    expect(toast).to_be_visible(timeout=15000)

    staff = browser.new_page()
    sign_in_at(staff, stack.url, operator)
    nav = staff.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Deliveries").click()
    for channel, address in (("Email", "alerts@example.test"), ("SMS", "+27821234567")):
        row = staff.locator("tbody tr").filter(has_text=address)
        expect(row).to_contain_text(channel)
        expect(row).to_contain_text("sent", timeout=20000)
    nav.get_by_role("link", name="Outbox").click()
    expect(staff.get_by_text("To +27821234567")).to_be_visible()
    expect(staff.get_by_text("has only R 5.00 left").first).to_be_visible()
    expect(staff.get_by_text("To alerts@example.test")).to_be_visible()
    [mail] = stack.smtp.messages
    assert mail["subject"] == "Your credit is almost finished"
    assert "R 5.00" in mail["text"] and "R 5.00" in mail["html"]
    assert [m["to"] for m in stack.sms.messages] == ["+27821234567"]
