"""How the channels are doing, for the overview, /readyz and the start-up log: configured or
not, what is waiting, what was sent and what failed today (local day)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select

from ...models import NotificationDelivery
from ..notifications.log import day_span

D = NotificationDelivery
OUTSIDE = D.channel != "in_app"
SETTINGS = {"email": "EMAIL_URL", "sms": "SMS_URL"}


@dataclass
class ChannelHealth:
    """One channel today."""

    channel: str
    configured: bool
    sent_today: int
    failed_today: int
    waiting: int  # pending, held or sending now

    @property
    def state(self) -> str:
        """off (no URL), failing (failures and nothing sent today), up."""
        if not self.configured:
            return "off"
        if self.failed_today and not self.sent_today:
            return "failing"
        return "up"

    def as_json(self) -> dict:
        """The /readyz form."""
        return {"configured": self.configured, "state": self.state,
                "sent_today": self.sent_today, "failed_today": self.failed_today,
                "waiting": self.waiting}


def unconfigured(urls: dict[str, str | None]) -> list[str]:
    """Sentences naming each channel left off, for the start-up log."""
    return [f"The {channel} channel is off: {SETTINGS[channel]} is unset, so its deliveries "
            f"are suppressed." for channel, url in urls.items() if not url]


def channel_health(session, urls: dict[str, str | None], now: datetime, tz: str
                   ) -> list[ChannelHealth]:
    """Email and SMS: configured, sent and failed since local midnight, waiting now. Two
    grouped counts over the partial indexes (today's rows by id order are the newest)."""
    start, _end = day_span(now.astimezone(ZoneInfo(tz)).date(), tz)
    today = dict.fromkeys(("email", "sms"), (0, 0))
    for channel, sent, failed in session.execute(
            select(D.channel, func.count(case((D.status == "sent", 1))),
                   func.count(case((D.status == "failed", 1))))
            .where(OUTSIDE, D.status.in_(("sent", "failed")), D.created_at >= start)
            .group_by(D.channel)):
        today[channel] = (sent, failed)
    waiting = dict(session.execute(
        select(D.channel, func.count()).where(OUTSIDE, D.status.in_(("pending", "held",
                                                                     "sending")))
        .group_by(D.channel)).all())
    return [ChannelHealth(c, bool(urls.get(c)), today[c][0], today[c][1], waiting.get(c, 0))
            for c in ("email", "sms")]
