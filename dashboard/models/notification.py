"""Notifications and their delivery to each recipient on each channel."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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


#: The partial-index predicate of the email and SMS rows (see NotificationDelivery).
OUTSIDE = text("channel != 'in_app'")


class NotificationDelivery(Base):
    """One notification for one user on one channel: `in_app`, `email` or `sms`.

    In-app deliveries are made `sent` (stored and pushed) and keep the recipient's read
    state, so two residents of a unit read independently. Email and SMS deliveries are made
    in the same transaction as the notification, `pending` (or `suppressed` with the reason
    when there is no address), and walk pending → (held →) sending → sent | failed, as
    services/channels describes. `claimed_at` is when the current send was claimed: a row
    left `sending` long past it is failed "outcome unknown", never sent again by itself.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "user_id", "channel", name="uq_delivery"),
        # A resident's inbox and unread badge.
        Index("ix_deliveries_user_inbox", "user_id", "channel", "notification_id"),
        Index("ix_deliveries_user_unread", "user_id", "channel", "read_at"),
        # Email and SMS rows only (in-app rows, most of the table, maintain none of these):
        # the sweep and the sender find due rows by status and retry time, held rows by
        # when they go; the Deliveries page walks newest first by status and by channel.
        # Queries repeat the partial predicate so that SQLite uses them.
        Index("ix_deliveries_due", "status", "retry_at", sqlite_where=OUTSIDE,
              postgresql_where=OUTSIDE),
        Index("ix_deliveries_status_id", "status", "id", sqlite_where=OUTSIDE,
              postgresql_where=OUTSIDE),
        Index("ix_deliveries_channel_status_id", "channel", "status", "id",
              sqlite_where=OUTSIDE, postgresql_where=OUTSIDE),
        Index("ix_deliveries_held", "held_until", sqlite_where=text("status = 'held'"),
              postgresql_where=text("status = 'held'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(10), default="in_app")
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The email address or E.164 number it goes to (None for in-app, or when there was none).
    address: Mapped[str | None] = mapped_column(String(254))
    # pending | held | sending | sent | failed | suppressed
    status: Mapped[str] = mapped_column(String(12), default="sent", server_default="sent")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(500))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not before this time (a retry's backoff); None: as soon as possible.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
