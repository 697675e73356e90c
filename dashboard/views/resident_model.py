"""What the resident pages show: a wallet in plain words, recent transactions, inbox pages.

Read-only helpers over the existing services (wallets, wallet_state, notifications, usage), so
the routes in views/resident.py stay thin and the API keeps its own, separate JSON shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import select

from ..models import UTILITIES, UTILITY_UNITS, Estate, Transaction, Unit, Wallet
from ..services import notifications
from ..services.forecast import FriendlyHours
from ..services.forecast.runout import Forecast, forecast
from ..services.notifications.messages import RESIDENT_TYPES, UTILITY_NAMES, format_quantity
from ..services.wallets import usage
from ..services.wallets.state import SPEND_WINDOW_DAYS, days_left, spend_30d
from .labels import PRIORITY_LABELS, TOPUP_NAMES, TYPE_NAMES

RECENT_TRANSACTIONS = 8
INBOX_PAGE = 10

# What each state means for the resident, said the way they would say it.
STATE_WORDS = {
    "ok": ("Your credit is fine", "Nothing to do for now."),
    "low": ("Your credit is low", "Top up soon so your supply stays on."),
    "critical": ("Your credit is almost finished",
                 "Top up now so your electricity and water are not cut off."),
}


@dataclass
class UtilityOption:
    """A utility the estate sells, with its tariff, for the Buy form and the credit split."""

    utility: str
    name: str
    unit: str
    tariff: Decimal

    @property
    def label(self) -> str:
        """"Electricity (R 2.50 per kWh)"."""
        return f"{self.name.capitalize()} (R {self.tariff:,.2f} per {self.unit})"


@dataclass
class WalletSummary:
    """One wallet as the resident sees it: balance, state in words, days left, credit split."""

    wallet: Wallet
    estate: Estate
    headline: str
    advice: str
    alerts_off: bool
    spend_30d: Decimal
    daily_spend: Decimal | None
    days_left: Decimal | None
    credits: list[tuple[str, str, Decimal]]  # (utility, name, credit bought)
    options: list[UtilityOption]
    forecast: Forecast | None = None  # when the credit runs out, until when the supply stays

    @property
    def state(self) -> str:
        """ok / low / critical, as stored on the wallet."""
        return self.wallet.state


def estate_of(session, wallet: Wallet) -> Estate:
    """The estate of the wallet's unit."""
    return session.scalar(select(Estate).join(Unit).where(Unit.id == wallet.unit_id))


def utility_options(estate: Estate) -> list[UtilityOption]:
    """The utilities this estate sells, in the usual order, with their tariffs."""
    options = []
    for utility in UTILITIES:
        if utility in (estate.tariffs or {}):
            options.append(UtilityOption(utility, UTILITY_NAMES[utility],
                                         UTILITY_UNITS[utility], estate.tariff(utility)))
    return options


def wallet_summary(session, wallet: Wallet, now: datetime, zone: str) -> WalletSummary:
    """Everything the balance card says about one wallet (`zone`: CELERY_TIMEZONE, for an
    estate without its own)."""
    estate = estate_of(session, wallet)
    spend = spend_30d(session, wallet.id, now)
    headline, advice = STATE_WORDS.get(wallet.state, STATE_WORDS["ok"])
    options = utility_options(estate)
    sold = {o.utility for o in options}
    # Show what the estate sells, plus any credit left over from a utility it no longer sells.
    credits = [(u, UTILITY_NAMES[u], amount) for u, amount in wallet.balances.items()
               if u in sold or amount]
    return WalletSummary(
        wallet=wallet, estate=estate, headline=headline, advice=advice,
        alerts_off=wallet.low_balance_threshold <= 0, spend_30d=spend,
        daily_spend=(spend / SPEND_WINDOW_DAYS).quantize(Decimal("0.01")) if spend > 0 else None,
        days_left=days_left(wallet.balance, spend), credits=credits, options=options,
        forecast=forecast(wallet.balance, spend, now, FriendlyHours.of(estate, zone)))


@dataclass
class TransactionRow:
    """A ledger row as the resident reads it."""

    tx: Transaction
    text: str  # "Top-up by card", "Electricity, 20 kWh"

    @property
    def sign(self) -> str:
        """"+" for money in, "−" for money spent."""
        return "+" if self.tx.type == "topup" else "\u2212"


def recent_transactions(session, wallet_id: int, limit: int = RECENT_TRANSACTIONS
                        ) -> list[TransactionRow]:
    """The wallet's newest transactions, described."""
    rows = session.scalars(select(Transaction).where(Transaction.wallet_id == wallet_id)
                           .order_by(Transaction.id.desc()).limit(limit))
    return [TransactionRow(tx, describe_transaction(tx)) for tx in rows]


def describe_transaction(tx: Transaction) -> str:
    """"Top-up by card" or "Electricity, 20 kWh"."""
    if tx.type == "topup":
        return TOPUP_NAMES.get(tx.method, "Top-up")
    name = UTILITY_NAMES.get(tx.utility, tx.utility or "utility").capitalize()
    if tx.units is None:
        return name
    return f"{name}, {format_quantity(tx.units)} {UTILITY_UNITS.get(tx.utility, '')}".rstrip()



def usage_charts(session, wallet: Wallet, now: datetime, tz: str) -> list[usage.DailyUsage]:
    """The unit's daily use per meter over 30 days (only meters with readings)."""
    return usage.daily_usage(session, wallet.unit_id, now, tz)


# -- the inbox -------------------------------------------------------------------------------

@dataclass
class InboxFilter:
    """The inbox's type filter, unread-only switch and page (the id to list below)."""

    kind: str | None = None
    unread_only: bool = False
    before: int | None = None

    def params(self, *, page: bool = True) -> dict:
        """Query arguments that reproduce this view (without the page when page=False)."""
        values: dict = {}
        if self.kind:
            values["type"] = self.kind
        if self.unread_only:
            values["unread"] = "1"
        if page and self.before:
            values["before"] = self.before
        return values


def parse_inbox_filter(args) -> InboxFilter:
    """The filter from query or form arguments; anything unknown is ignored, not an error,
    because these come from links and selects a person clicked, and a stale link should
    still show the inbox."""
    kind = args.get("type") or None
    before = args.get("before") or ""
    return InboxFilter(kind=kind if kind in RESIDENT_TYPES else None,
                       unread_only=args.get("unread") in ("1", "true", "on", "yes"),
                       # ASCII only: "²".isdigit() is True and int("²") raised (a 500).
                       before=int(before) if before.isascii() and before.isdigit()
                       and len(before) < 18 else None)


@dataclass
class InboxPage:
    """One page of the inbox, newest first."""

    rows: list  # (Notification, read_at)
    filter: InboxFilter
    older: int | None  # the `before` of the next page, when there is one
    unread: int
    # The inbox filter offers the types a resident receives.
    type_names: ClassVar[dict] = {k: v for k, v in TYPE_NAMES.items() if k in RESIDENT_TYPES}
    priority_names: ClassVar[dict] = PRIORITY_LABELS

    @property
    def first_page(self) -> bool:
        """True on the newest page."""
        return self.filter.before is None


def inbox_page(session, user, flt: InboxFilter, limit: int = INBOX_PAGE) -> InboxPage:
    """A page of the user's notifications with the filter applied; keyset paging by id."""
    rows = notifications.list_for(session, user, unread=flt.unread_only or None,
                                  kind=flt.kind, before_id=flt.before, limit=limit + 1)
    older = None
    if len(rows) > limit:
        rows = rows[:limit]
        older = rows[-1][0].id
    return InboxPage(rows, flt, older, notifications.unread_count(session, user))
