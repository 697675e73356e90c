"""What each resident wants beyond the app: alert channels per notification type, quiet hours.

A resident who never saved their channels has no rows here and gets the estate defaults
(services/channels/preferences.py), so changing a default reaches everyone who kept it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .common import utcnow
from .types import UTCDateTime

#: Every channel a delivery can go by; in-app is always on.
CHANNELS = ("in_app", "email", "sms")
#: The channels a resident chooses (per notification type).
OUTSIDE_CHANNELS = ("email", "sms")
#: A delivery's life (DESIGN "Channels and delivery").
DELIVERY_STATUSES = ("pending", "held", "sending", "sent", "failed", "suppressed")


class ChannelPreference(Base):
    """Whether one resident gets one notification type by email and by SMS."""

    __tablename__ = "channel_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    email: Mapped[bool] = mapped_column(default=False)
    sms: Mapped[bool] = mapped_column(default=False)


class QuietHours(Base):
    """A resident's quiet hours in local time, as minutes after midnight (start may be after
    end: 21:00–07:00 spans midnight). No row: the default, 21:00–07:00."""

    __tablename__ = "quiet_hours"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
