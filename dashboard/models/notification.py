"""Notifications and their delivery to each recipient on each channel."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .common import utcnow
from .types import UTCDateTime


class Notification(Base):
    """Something a resident should know, made once and kept.

    `dedup_key` is deterministic for the event it reports (a transaction, a wallet's n-th alert
    claim, a meter's local day) and unique, so retries, double delivery and racing scans can
    never store it twice.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_wallet_id", "wallet_id", "id"),
        Index("ix_notifications_type_id", "type", "id"),
        Index("ix_notifications_created_at", "created_at"),
        Index("ix_notifications_task_run_id", "task_run_id"),
        # Partial: scan alerts (most rows) have no transaction (migration 0004).
        Index("ix_notifications_transaction_id", "transaction_id",
              sqlite_where=text("transaction_id IS NOT NULL"),
              postgresql_where=text("transaction_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10))  # normal | high | critical
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id"))
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    task_run_id: Mapped[int | None] = mapped_column(ForeignKey("task_runs.id"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deliveries: Mapped[list[NotificationDelivery]] = relationship(back_populates="notification")


class NotificationDelivery(Base):
    """One notification for one user on one channel (`in_app` today; email and SMS later).

    Read state belongs here, per recipient, so two residents of a unit read independently.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "user_id", "channel", name="uq_delivery"),
        # A resident's inbox and unread badge.
        Index("ix_deliveries_user_inbox", "user_id", "channel", "notification_id"),
        Index("ix_deliveries_user_unread", "user_id", "channel", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(10), default="in_app")
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
