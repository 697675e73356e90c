"""Forecasts of the wallets a page or an API answer shows, and the stored sort key.

A page of wallets costs one grouped sum of their purchases; friendly hours come from their
estates (loaded with them). The stored `credit_seconds` of a wallet is kept here after each
transaction, from the same 30-day figures the transaction's state is decided from.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ...models import Estate, Transaction, Unit, Wallet
from ..wallets.state import SPEND_WINDOW_DAYS, spend_since
from .calendar import FriendlyHours
from .runout import Forecast, credit_seconds, forecast


def spend_window(session, wallet_id: int, now: datetime) -> tuple[Decimal, datetime | None]:
    """A wallet's purchases over the last 30 days: their total and the time of the oldest."""
    total, first = session.execute(
        select(func.coalesce(func.sum(Transaction.amount), 0), func.min(Transaction.created_at))
        .where(Transaction.wallet_id == wallet_id, Transaction.type == "purchase",
               Transaction.created_at >= spend_since(now))).one()
    return Decimal(total or 0), first


def store_sort_key(wallet: Wallet, spend: Decimal, first_purchase: datetime | None,
                   now: datetime) -> None:
    """Set the wallet's credit_seconds from its balance and 30-day figures, and when that
    expires: when its oldest purchase in the window leaves it (without purchases, a window
    from now, so that every forecast is made again now and then). The caller flushes."""
    wallet.credit_seconds = credit_seconds(wallet.balance, spend)
    wallet.forecast_expires_at = expires_at(first_purchase, now)


def expires_at(first_purchase: datetime | None, now: datetime) -> datetime:
    """When a forecast made at `now` from a window whose oldest purchase is
    `first_purchase` stops being true."""
    return (first_purchase or now) + timedelta(days=SPEND_WINDOW_DAYS)


def spends(session, wallet_ids: list[int], now: datetime) -> dict[int, Decimal]:
    """Purchases over the last 30 days of each wallet (one GROUP BY)."""
    if not wallet_ids:
        return {}
    rows = session.execute(
        select(Transaction.wallet_id, func.sum(Transaction.amount))
        .where(Transaction.wallet_id.in_(wallet_ids), Transaction.type == "purchase",
               Transaction.created_at >= spend_since(now))
        .group_by(Transaction.wallet_id))
    found = {wallet_id: Decimal(total) for wallet_id, total in rows}
    return {i: found.get(i, Decimal(0)) for i in wallet_ids}


def hours_of(estate: Estate, default_zone: str) -> FriendlyHours:
    """An estate's friendly hours."""
    return FriendlyHours.of(estate, default_zone)


def for_wallets(session, wallets: list[Wallet], now: datetime, default_zone: str
                ) -> dict[int, Forecast | None]:
    """The forecast of each wallet (None without purchases in 30 days)."""
    spent = spends(session, [w.id for w in wallets], now)
    estates = _estates(session, wallets)
    hours = {e.id: hours_of(e, default_zone) for e in estates.values()}
    return {w.id: forecast(w.balance, spent[w.id], now, hours[estates[w.id].id])
            for w in wallets}


def _estates(session, wallets: list[Wallet]) -> dict[int, Estate]:
    """The estate of each wallet, from its loaded unit or one query."""
    missing = [w.id for w in wallets if "unit" not in w.__dict__]
    found = {w.id: w.unit.estate for w in wallets if "unit" in w.__dict__}
    if missing:
        rows = session.execute(select(Wallet.id, Estate).join(Unit, Unit.id == Wallet.unit_id)
                               .join(Estate, Estate.id == Unit.estate_id)
                               .where(Wallet.id.in_(missing)))
        found.update({wallet_id: estate for wallet_id, estate in rows})
    return found
