"""The run-out forecast of a wallet, in Python (pages, the API's JSON, the after-transaction
sort key); services/forecast/sql.py says the same in SQL for the scans, tested to agree.

A wallet with purchases in the last 30 days runs out at now + balance ÷ average daily spend
(DESIGN), reckoned in whole seconds from integer cents so the database gets the same second:
seconds = balance_cents × 2,592,000 ÷ spend₃₀_cents (30 days of seconds), rounded down.
`supply_until` is the end of the friendly hours holding the run-out, or the run-out itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..wallets.state import SPEND_WINDOW_DAYS
from .calendar import FriendlyHours, supply_until
from .words import when_text

WINDOW_SECONDS = SPEND_WINDOW_DAYS * 86400
#: Credit beyond this counts as this much: a run-out stays a date a datetime can hold.
MAX_SECONDS = 100 * 365 * 86400
#: Alerts quote a run-out at most this many days ahead (the calendar_spans reach further).
QUOTE_DAYS = 60


def cents(amount: Decimal) -> int:
    """An amount of rand as whole cents."""
    return int(Decimal(amount) * 100)


def credit_seconds(balance: Decimal, spend_30d: Decimal) -> int | None:
    """Seconds of credit left at the average daily spend; None without spend. An empty (or
    overdrawn) wallet has 0; the figure stops at MAX_SECONDS."""
    spend = cents(spend_30d)
    if spend <= 0:
        return None
    balance_cents = max(cents(balance), 0)
    if balance_cents * SPEND_WINDOW_DAYS >= spend * (MAX_SECONDS // 86400):
        return MAX_SECONDS
    return balance_cents * WINDOW_SECONDS // spend


def quoted(seconds: int | None) -> bool:
    """True when an alert quotes a run-out this far ahead: some credit, within QUOTE_DAYS."""
    return seconds is not None and 0 < seconds < QUOTE_DAYS * 86400


@dataclass(frozen=True)
class Forecast:
    """When a wallet's credit runs out and until when the supply stays on."""

    runs_out_at: datetime
    supply_until: datetime
    now: datetime
    zone: str

    @property
    def friendly(self) -> bool:
        """True when friendly hours keep the supply on past the run-out."""
        return self.supply_until > self.runs_out_at

    @property
    def runs_out_text(self) -> str:
        """"Sat 02:00" in the estate's local time."""
        return when_text(self.runs_out_at, self.now, ZoneInfo(self.zone))

    @property
    def supply_text(self) -> str:
        """"Mon 07:00" in the estate's local time."""
        return when_text(self.supply_until, self.now, ZoneInfo(self.zone))

    def sentence(self) -> str:
        """What the pages and the alerts say (messages.forecast_sentence)."""
        from ..notifications.messages import forecast_sentence

        return forecast_sentence(self.runs_out_text,
                                 self.supply_text if self.friendly else None).strip()


def forecast(balance: Decimal, spend_30d: Decimal, now: datetime, hours: FriendlyHours
             ) -> Forecast | None:
    """The forecast of a wallet with this balance and 30-day spend, or None without spend."""
    seconds = credit_seconds(balance, spend_30d)
    if seconds is None:
        return None
    start = now.replace(microsecond=0)
    runs_out = start + timedelta(seconds=seconds)
    return Forecast(runs_out, supply_until(runs_out, hours), start, hours.zone)
