"""Wallet state (ok / low / critical), in Python for one wallet and in SQL for a million.

The rules:
- a zero threshold turns alerts off: the wallet is always `ok`;
- `critical` when balance < 20% of the threshold;
- `low` when not critical and balance < threshold (mode `amount`), or, in mode `days`, when
  the days of credit left (balance ÷ average daily spend over 30 days) < low_balance_days;
- `ok` otherwise. With no purchases in 30 days the days left are unknown, so days mode is `ok`.

Both forms are written without division, in integer cents, so they agree exactly:
balance < 0.2 × threshold  ⇔  5 × balance < threshold, and
balance ÷ (spend₃₀ ÷ 30) < days  ⇔  30 × balance < days × spend₃₀.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from ...models import Transaction, Wallet

SPEND_WINDOW_DAYS = 30


def compute_state(balance: Decimal, threshold: Decimal, mode: str, low_days: int,
                  spend_30d: Decimal) -> str:
    """The state of one wallet from its balance, settings and 30-day purchase total."""
    if threshold <= 0:
        return "ok"
    if balance * 5 < threshold:
        return "critical"
    if mode == "amount":
        return "low" if balance < threshold else "ok"
    if spend_30d > 0 and balance * SPEND_WINDOW_DAYS < low_days * spend_30d:
        return "low"
    return "ok"


def days_left(balance: Decimal, spend_30d: Decimal) -> Decimal | None:
    """Days of credit left at the 30-day average spend, to 0.1 rounding half up; None when
    there is no spend.

    balance ÷ (spend ÷ 30) in tenths, in integer cents, so `days_left_tenths_sql` (the scans)
    gives the same figure to the last digit.
    """
    if spend_30d <= 0:
        return None
    tenths = _tenths(int(balance * 100), int(spend_30d * 100))
    return Decimal(tenths).scaleb(-1)


def _tenths(balance_cents: int, spend_cents: int) -> int:
    """round_half_up(10 × 30 × balance ÷ spend) for a positive spend and a balance ≥ 0."""
    return (20 * SPEND_WINDOW_DAYS * balance_cents + spend_cents) // (2 * spend_cents)


def days_left_tenths_sql(balance_cents, spend_cents) -> ColumnElement:
    """`_tenths` in SQL (integer division on SQLite and PostgreSQL alike); the caller makes
    sure the spend is positive and the balance not negative."""
    return (20 * SPEND_WINDOW_DAYS * balance_cents + spend_cents) // (2 * spend_cents)


def spend_since(now: datetime) -> datetime:
    """The start of the average-spend window."""
    return now - timedelta(days=SPEND_WINDOW_DAYS)


def spend_30d(session, wallet_id: int, now: datetime) -> Decimal:
    """Total purchases of one wallet over the last 30 days."""
    total = session.scalar(
        select(func.coalesce(func.sum(Transaction.amount), 0))
        .where(Transaction.wallet_id == wallet_id, Transaction.type == "purchase",
               Transaction.created_at >= spend_since(now))
    )
    return Decimal(total or 0)


def spend_30d_sql(now: datetime) -> ColumnElement:
    """Correlated subquery: the wallet's purchases in cents over the last 30 days."""
    return (
        select(func.coalesce(func.sum(Transaction.__table__.c.amount), 0))
        .where(Transaction.__table__.c.wallet_id == Wallet.__table__.c.id,
               Transaction.__table__.c.type == "purchase",
               Transaction.__table__.c.created_at >= spend_since(now))
        .correlate(Wallet.__table__)
        .scalar_subquery()
    )


def state_sql(now: datetime) -> ColumnElement:
    """SQL CASE giving each wallet row's state; the same rule as `compute_state`.

    Works on raw cents (the table's columns), so the comparisons are integer comparisons.
    The 30-day spend is only computed for wallets in days mode (CASE evaluates lazily).
    """
    w = Wallet.__table__.c
    critical = and_(w.low_balance_threshold > 0, w.balance * 5 < w.low_balance_threshold)
    low_amount = and_(w.alert_mode == "amount", w.balance < w.low_balance_threshold)
    spend = spend_30d_sql(now)
    low_days = and_(w.alert_mode == "days",
                    w.balance * SPEND_WINDOW_DAYS < w.low_balance_days * spend)
    return case(
        (w.low_balance_threshold <= 0, literal("ok")),
        (critical, literal("critical")),
        (or_(low_amount, low_days), literal("low")),
        else_=literal("ok"),
    )
