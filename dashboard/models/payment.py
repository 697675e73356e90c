"""A resident's payment into a wallet: pending until the payment provider confirms it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .common import utcnow
from .types import Money, UTCDateTime

#: How a resident pays: through the payment provider, never cash or a manual entry.
PAYMENT_METHODS = ("card", "instant_eft")
#: pending → succeeded (credited once) | failed (declined) | expired (not paid in time).
PAYMENT_STATES = ("pending", "succeeded", "failed", "expired")
PENDING = text("status = 'pending'")


class Payment(Base):
    """A top-up a resident started. Nothing is credited until the provider's signed webhook
    says it succeeded; then `transaction_id` names the one top-up that credited it."""

    __tablename__ = "payments"
    __table_args__ = (
        # Replaying an Idempotency-Key finds the first payment instead of starting a second.
        UniqueConstraint("wallet_id", "idempotency_key", name="uq_payments_idempotency"),
        # A wallet's newest payments (the resident's payment card).
        Index("ix_payments_wallet_id", "wallet_id", "id"),
        # The expiry sweep: pending payments by deadline (a partial index: settled ones,
        # nearly all of them, are never looked up this way).
        Index("ix_payments_pending_expiry", "expires_at", sqlite_where=PENDING,
              postgresql_where=PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # The provider's own reference, from its webhook.
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    # A digest of the request that used the key, to refuse the key's reuse for another request.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The top-up that credited the wallet; unique, so no payment can credit twice.
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"),
                                                       unique=True)
    # The webhook-id of the message that settled it (for the audit trail).
    webhook_id: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
