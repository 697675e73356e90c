"""What the channel tests share: real providers on free ports (an aiosmtpd SMTP server and an
HTTP server playing the SMS gateway, both from dashboard/cli/sinks.py, with scripted
answers), residents with addresses, and the sender run in-process against them with the
rate limit in the test session's Redis."""
from __future__ import annotations

import threading

import pytest
import redis

from dashboard.cli.redis_server import free_port
from dashboard.cli.sinks import SmsSink, SmtpSink, email_url, sms_url
from dashboard.db import Session
from dashboard.models import NotificationDelivery
from dashboard.services.channels import sender
from dashboard.services.channels.ratelimit import RateLimit
from tests import factories


class Script:
    """Answers to give, in order, then 200 (SMS) or acceptance (email)."""

    def __init__(self):
        """No scripted answers yet."""
        self.answers: list = []
        self.lock = threading.Lock()

    def next(self):
        """The next scripted answer, or None."""
        with self.lock:
            return self.answers.pop(0) if self.answers else None


@pytest.fixture
def providers():
    """A running SMTP server and SMS gateway: `providers.smtp`, `.sms`, `.sms_script`,
    `.smtp_script` (SMTP replies like "550 5.1.1 No such user"), `.urls`."""
    sms_script, smtp_script = Script(), Script()
    smtp = SmtpSink(free_port(), answer=lambda envelope: smtp_script.next()).start()
    sms = SmsSink(free_port(), answer=lambda record: sms_script.next()).start()

    class Providers:
        """The servers and their URLs."""

    p = Providers()
    p.smtp, p.sms, p.sms_script, p.smtp_script = smtp, sms, sms_script, smtp_script
    p.urls = {"email": email_url(smtp.controller.port), "sms": sms_url(sms.server_address[1])}
    yield p
    smtp.stop()
    sms.stop()


def settings_for(urls: dict, **overrides) -> sender.ChannelSettings:
    """Sender settings for the tests (short retries, short timeouts)."""
    values = {"urls": urls, "public_url": "http://dash.example.test", "tz": "Africa/Johannesburg",
              "timeout": 3.0, "concurrency": 4, "delays": (0.2, 0.2, 0.2, 0.2)}
    values.update(overrides)
    return sender.ChannelSettings(**values)


@pytest.fixture
def limiter(redis_url):
    """A generous shared rate limit per channel in the test Redis (own keys per test)."""
    import uuid

    client = redis.Redis.from_url(redis_url)
    prefix = uuid.uuid4().hex[:8]
    return lambda channel, rate=1000: RateLimit(client, f"{prefix}:{channel}", rate)


def resident_with(session, wallet, *, email="res@example.test", phone="+27821234567", **kw):
    """A resident of the wallet's unit with a notification email and mobile number."""
    from dashboard.services.channels import addresses

    user = factories.resident(session, wallet, **kw)
    addresses.update_person_contact(session, user.person_id, {"email": email, "phone": phone})
    return user


def deliveries(session, channel: str | None = None) -> list[NotificationDelivery]:
    """Every delivery (of one channel), fresh from the database, in id order."""
    from sqlalchemy import select

    session.expire_all()
    query = select(NotificationDelivery).order_by(NotificationDelivery.id)
    if channel:
        query = query.where(NotificationDelivery.channel == channel)
    return list(session.scalars(query))


def drain_all(settings, limiter_for, channels=("email", "sms")) -> dict:
    """Run the sender on each channel once, in this process; {channel: Drained}."""
    return {c: sender.drain(Session, c, settings, limiter_for(c), budget=10) for c in channels}
