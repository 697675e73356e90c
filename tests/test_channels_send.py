"""Sending email and SMS to real local servers: what arrives, at most once, retried when a
retry can cure it, failed at once when it cannot, held in quiet hours and by the SMS delay.

The sender runs in this process (services/channels/sender.py, as the worker's task runs it)
against an aiosmtpd server and an HTTP server playing the SMS gateway; the rate limit lives
in the test session's Redis."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from dashboard.db import Session
from dashboard.models import NotificationDelivery, QuietHours, utcnow
from dashboard.services import notifications
from dashboard.services.channels import delivery, preferences
from dashboard.services.scans import credit_alerts
from tests import channels_kit, factories
from tests.channels_kit import deliveries, drain_all, resident_with, settings_for

providers, limiter = channels_kit.providers, channels_kit.limiter  # fixtures

D = NotificationDelivery


def _no_quiet_hours(user):
    """Quiet hours that never include now (an empty span)."""
    Session.merge(QuietHours(user_id=user.id, start_minute=0, end_minute=0))


def _alert(db, balance: str, **resident):
    """A wallet at `balance` (threshold R 50) with a resident who has both addresses and no
    quiet hours; its credit alert stored as the scans store them. Returns (wallet, user)."""
    wallet = factories.wallet(db, balance)
    user = resident_with(db, wallet, **resident)
    _no_quiet_hours(user)
    db.commit()
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.commit()
    return wallet, user


def test_the_email_arrives_with_subject_and_figures_in_both_parts(db, providers, limiter):
    wallet, _ = _alert(db, "8.00", email="Thandi+alerts@Example.test")
    drain_all(settings_for(providers.urls), limiter, ("email",))
    [mail] = providers.smtp.messages
    assert mail["to"] == ["Thandi+alerts@example.test"]
    assert mail["subject"] == "Your credit is almost finished"
    for part in (mail["text"], mail["html"]):
        assert "R 8.00" in part and "R 50.00" in part
        assert f"http://dash.example.test/me/wallets/{wallet.id}" in part
    [email] = deliveries(db, "email")
    assert (email.status, email.attempts, email.address) == ("sent", 1,
                                                            "Thandi+alerts@example.test")
    assert email.sent_at is not None


def test_the_sms_provider_gets_the_number_and_a_one_segment_text(db, providers, limiter):
    _alert(db, "8.00", phone="082 123 4567")
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    [sms] = providers.sms.messages
    assert sms["to"] == "+27821234567"
    assert "R 8.00" in sms["message"] and "Top up now" in sms["message"]
    assert len(sms["message"]) <= 160
    assert deliveries(db, "sms")[0].status == "sent"


def test_quiet_hours_hold_a_low_credit_sms_and_let_a_critical_one_through(db, providers,
                                                                           limiter):
    local = utcnow().astimezone(ZoneInfo("Africa/Johannesburg"))
    minute = local.hour * 60 + local.minute
    start, end = (minute - 60) % 1440, (minute + 60) % 1440  # quiet now, for two hours
    low_wallet, critical_wallet = factories.wallet(db, "40.00"), factories.wallet(db, "5.00")
    for w in (low_wallet, critical_wallet):
        user = resident_with(db, w)
        db.merge(QuietHours(user_id=user.id, start_minute=start, end_minute=end))
        # low_credit goes by email only by default: this resident asked for SMS too.
        preferences.save_preferences(db, user, channels={"low_credit": ["email", "sms"]})
    db.commit()
    for w in (low_wallet, critical_wallet):
        credit_alerts.check_wallet(db, w.id, utcnow())
    db.commit()
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    by_type = {d.notification.type: d for d in deliveries(db, "sms")}
    held, sent = by_type["low_credit"], by_type["critical_credit"]
    assert held.status == "held"
    assert held.error == f"Quiet hours until {end // 60:02d}:{end % 60:02d}."
    expected = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end < minute:
        expected += timedelta(days=1)
    assert abs((held.held_until - expected).total_seconds()) < 1
    assert sent.status == "sent"
    [only] = providers.sms.messages
    assert "has only R 5.00 left" in only["message"]
    # When the hours end (here: the resident ends them), the sweep releases it and it goes.
    db.merge(QuietHours(user_id=held.user_id, start_minute=0, end_minute=0))
    assert delivery.release_held(db, held.held_until + timedelta(seconds=1)) == [held.id]
    db.commit()
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    assert {d.status for d in deliveries(db, "sms")} == {"sent"}
    assert len(providers.sms.messages) == 2


def _with_sms_delay(db, minutes: int):
    """A critical alert for a wallet on an estate with an SMS delay; returns (wallet, user)."""
    estate = factories.estate(db, sms_delay_minutes=minutes)
    wallet = factories.wallet(db, "5.00", estate_obj=estate)
    user = resident_with(db, wallet)
    _no_quiet_hours(user)
    db.commit()
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.commit()
    return wallet, user


def _let_time_pass(db, minutes: int) -> None:
    """Move every delivery's times back, as if `minutes` had passed."""
    back = timedelta(minutes=minutes)
    for row in deliveries(db):
        row.created_at -= back
        if row.held_until is not None:
            row.held_until -= back
    db.commit()


def test_sms_delay_sends_nothing_when_the_notification_was_read_in_time(db, providers,
                                                                       limiter):
    _, user = _with_sms_delay(db, 10)
    settings = settings_for(providers.urls)
    drain_all(settings, limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert sms.status == "held" and providers.sms.requests_seen == []
    notifications.mark_read(db, user, sms.notification_id, utcnow())
    db.commit()
    _let_time_pass(db, 11)
    delivery.release_held(db, utcnow())
    db.commit()
    drain_all(settings, limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert sms.status == "suppressed" and sms.error.startswith("Read in time")
    assert providers.sms.requests_seen == []


def test_sms_delay_sends_one_sms_when_it_is_still_unread(db, providers, limiter):
    _with_sms_delay(db, 10)
    settings = settings_for(providers.urls)
    drain_all(settings, limiter, ("sms",))
    assert deliveries(db, "sms")[0].status == "held"
    _let_time_pass(db, 11)
    delivery.release_held(db, utcnow())
    db.commit()
    drain_all(settings, limiter, ("sms",))
    drain_all(settings, limiter, ("sms",))  # and again: nothing more
    assert deliveries(db, "sms")[0].status == "sent"
    assert len(providers.sms.messages) == 1


def test_a_500_then_a_200_gives_exactly_one_sms(db, providers, limiter):
    _alert(db, "5.00")
    providers.sms_script.answers = [(500, {})]
    settings = settings_for(providers.urls)
    drain_all(settings, limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert sms.status == "pending" and sms.attempts == 1 and "HTTP 500" in sms.error
    time.sleep(0.3)
    drain_all(settings, limiter, ("sms",))
    drain_all(settings, limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert [status for status, _ in providers.sms.requests_seen] == [500, 200]
    assert len(providers.sms.messages) == 1


def test_a_400_fails_at_once_with_the_reason(db, providers, limiter):
    _alert(db, "5.00")
    providers.sms_script.answers = [(400, {})]
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    time.sleep(0.3)
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert (sms.status, sms.attempts) == ("failed", 1)
    assert "HTTP 400" in sms.error
    assert len(providers.sms.requests_seen) == 1


def test_a_429_waits_as_long_as_retry_after_says(db, providers, limiter):
    _alert(db, "5.00")
    providers.sms_script.answers = [(429, {"Retry-After": "120"})]
    drain_all(settings_for(providers.urls), limiter, ("sms",))
    [sms] = deliveries(db, "sms")
    assert sms.status == "pending" and "429" in sms.error
    assert 110 < (sms.retry_at - utcnow()).total_seconds() <= 120


def test_five_transient_failures_fail_it_for_good(db, providers, limiter):
    _alert(db, "5.00")
    providers.sms_script.answers = [(503, {})] * 6
    settings = settings_for(providers.urls, delays=(0.01,))
    for _ in range(8):
        drain_all(settings, limiter, ("sms",))
        time.sleep(0.05)
    [sms] = deliveries(db, "sms")
    assert (sms.status, sms.attempts) == ("failed", 5)
    assert sms.error.startswith("Gave up after 5 attempts")
    assert len(providers.sms.requests_seen) == 5


def test_a_refused_mailbox_fails_the_email_at_once(db, providers, limiter):
    _alert(db, "5.00")
    providers.smtp_script.answers = ["550 5.1.1 No such user"]
    drain_all(settings_for(providers.urls), limiter, ("email",))
    [email] = deliveries(db, "email")
    assert email.status == "failed" and "550" in email.error


def test_a_hanging_provider_costs_one_timeout(db, providers, limiter):
    """Every send of a slice would hang; the slice stops after the first timeout, so the
    sender is back within about one timeout, not one per delivery."""
    estate = factories.estate(db)
    for _ in range(12):
        w = factories.wallet(db, "5.00", estate_obj=estate)
        _no_quiet_hours(resident_with(db, w))
    db.commit()
    credit_alerts.check_wallets(db, True, utcnow())
    db.commit()
    providers.sms.answer = lambda record: time.sleep(3) or None
    started = time.monotonic()
    result = drain_all(settings_for(providers.urls, timeout=1.0, concurrency=2), limiter,
                       ("sms",))["sms"]
    assert time.monotonic() - started < 2.5
    rows = deliveries(db, "sms")
    assert {r.status for r in rows} == {"pending"}
    assert sum(r.attempts for r in rows) <= 2 and result.sent == 0
    assert all("did not answer in time" in r.error for r in rows if r.attempts)


def test_an_unconfigured_channel_suppresses_its_deliveries_with_the_reason(db, limiter):
    _alert(db, "5.00")
    drain_all(settings_for({"email": None, "sms": None}), limiter)
    rows = deliveries(db)
    assert {(r.channel, r.status) for r in rows} == {
        ("in_app", "sent"), ("email", "suppressed"), ("sms", "suppressed")}
    assert next(r for r in rows if r.channel == "sms").error == \
        "The SMS channel is not configured (SMS_URL is unset)."


def test_no_address_is_suppressed_when_the_notification_is_made(db):
    wallet = factories.wallet(db, "5.00")
    factories.resident(db, wallet)
    db.commit()
    credit_alerts.check_wallet(db, wallet.id, utcnow())
    db.commit()
    assert {(r.channel, r.status, r.error) for r in deliveries(db) if r.channel != "in_app"} == {
        ("email", "suppressed", "No email address"), ("sms", "suppressed", "No mobile number")}


def test_a_scan_alerting_1000_residents_sends_each_once(db, providers, limiter):
    """1,000 critical wallets, each with a resident: 1,000 deliveries per channel, made with
    the notifications; two senders per channel running at once send each exactly once."""
    factories.bulk_wallets(db, 1000, balances=(500,), threshold=5000)
    from sqlalchemy import select

    from dashboard.models import Occupancy, Person, User, Wallet

    units = db.execute(select(Wallet.unit_id)).scalars().all()
    people = [Person(first_name="R", last_name=str(i), email=f"r{i}@example.test",
                     phone=f"+2782{i:07d}") for i in range(len(units))]
    db.add_all(people)
    db.flush()
    today = utcnow().date()
    db.add_all([Occupancy(unit_id=u, person_id=p.id, role="tenant", is_primary=True,
                          start_date=today - timedelta(days=1)) for u, p in zip(units, people, strict=True)])
    db.add_all([User(email=f"r{p.id}@login.test", password_hash="x", role="resident",
                     person_id=p.id) for p in people])
    db.commit()
    db.add_all([QuietHours(user_id=u.id, start_minute=0, end_minute=0)
                for u in db.scalars(select(User).where(User.role == "resident"))])
    db.commit()
    found = credit_alerts.check_wallets(db, True, utcnow())["critical_credit"]
    db.commit()
    assert found.notified == 1000
    rows = deliveries(db)
    for channel in ("in_app", "email", "sms"):
        assert sum(r.channel == channel for r in rows) == 1000, channel
    settings = settings_for(providers.urls, concurrency=8)
    errors = []

    def run(channel):
        """One sender, with its own session."""
        from dashboard.services.channels import sender

        try:
            session = Session.session_factory()
            sender.drain(session, channel, settings, limiter(channel), budget=60)
            session.close()
        except Exception as exc:  # collected, failing the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in ("email", "sms") for _ in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for _ in range(20):  # what a busy moment left to retry (refused connections) goes too
        if not delivery.due_channels(db, utcnow() + timedelta(seconds=1)):
            break
        time.sleep(0.25)
        drain_all(settings, limiter)
    rows = deliveries(db)
    assert {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows if r.channel != "in_app"} == {1}
    assert len(providers.sms.messages) == 1000
    assert len({m["to"] for m in providers.sms.messages}) == 1000
    assert len(providers.smtp.messages) == 1000
    assert len({tuple(m["to"]) for m in providers.smtp.messages}) == 1000
