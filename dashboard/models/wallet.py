"""Prepaid wallets and their ledger of transactions."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .common import UTILITIES, utcnow
from .estate import Unit
from .types import Money, Quantity, UTCDateTime


class Wallet(Base):
    """A unit's prepaid wallet: one spendable balance, credit bought per utility, alert settings.

    `state` (ok/low/critical) is kept current by every transaction and by the scans, so the
    dashboard can filter a million wallets by state through an index.
    """

    __tablename__ = "wallets"
    __table_args__ = (
        Index("ix_wallets_state_id", "state", "id"),
        Index("ix_wallets_balance_id", "balance", "id"),
        # One state sorted by balance (the dashboard's "critical, lowest first").
        Index("ix_wallets_state_balance_id", "state", "balance", "id"),
        # The list's "cuts out soonest" (services/wallets/search.py).
        Index("ix_wallets_credit_seconds_id", "credit_seconds", "id"),
        # The forecasts to make again (housekeeping refresh_forecasts).
        Index("ix_wallets_forecast_expires", "forecast_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    electricity_credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    water_credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    solar_credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    hot_water_credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))

    low_balance_threshold: Mapped[Decimal] = mapped_column(Money(), default=Decimal("50.00"))
    alert_mode: Mapped[str] = mapped_column(String(10), default="amount")
    low_balance_days: Mapped[int] = mapped_column(Integer, default=3)
    alert_frequency_hours: Mapped[int] = mapped_column(Integer, default=24)
    state: Mapped[str] = mapped_column(String(10), default="ok")

    # Alert windows. A scan or transaction "claims" an alert by bumping the sequence inside a
    # conditional UPDATE, so two racing scans cannot both claim; the sequence also makes the
    # notification's de-duplication key. A top-up back to ok clears the times (re-arming).
    low_alert_seq: Mapped[int] = mapped_column(Integer, default=0)
    low_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    critical_alert_seq: Mapped[int] = mapped_column(Integer, default=0)
    critical_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # credit_depleted is claimed like the alerts above, once per fall to zero: a top-up clears
    # depleted_at (re-arming), and the sequence makes the notification's key.
    depleted_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    depleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When `state` last changed (the operators' digest counts wallets new to a state).
    state_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Seconds of credit left at the average daily spend (balance ÷ spend over 30 days), None
    # without purchases in 30 days: the sort key of "cuts out soonest". Unlike a run-out time
    # it does not move as time passes, only when a transaction changes the balance or the
    # spend (then it is recomputed, services/forecast) or when a purchase leaves the 30-day
    # window: at forecast_expires_at, which beat's refresh_forecasts watches.
    credit_seconds: Mapped[int | None] = mapped_column(BigInteger)
    forecast_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    @property
    def balances(self) -> dict[str, Decimal]:
        """Credit bought per utility."""
        return {u: getattr(self, f"{u}_credit") for u in UTILITIES}


class Transaction(Base):
    """A completed top-up or utility purchase, with the balance before and after it."""

    __tablename__ = "transactions"
    __table_args__ = (
        # Replaying an Idempotency-Key finds the first transaction instead of making a second.
        UniqueConstraint("wallet_id", "idempotency_key", name="uq_transactions_idempotency"),
        Index("ix_transactions_wallet_id", "wallet_id", "id"),
        # Average daily spend: purchases of a wallet over the last 30 days, summed from the
        # index alone (the amount is in it), for the state rule and the run-out forecast.
        Index("ix_transactions_wallet_type_created", "wallet_id", "type", "created_at",
              "amount"),
        # The operators' digest: top-ups and purchases of the last 24 hours.
        Index("ix_transactions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    type: Mapped[str] = mapped_column(String(10))  # topup | purchase
    utility: Mapped[str | None] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Money())
    units: Mapped[Decimal | None] = mapped_column(Quantity())
    balance_before: Mapped[Decimal] = mapped_column(Money())
    balance_after: Mapped[Decimal] = mapped_column(Money())
    method: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="completed")
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    # A digest of the request that used the key, to refuse the key's reuse for another request.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    wallet: Mapped[Wallet] = relationship()
