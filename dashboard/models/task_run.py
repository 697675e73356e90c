"""The history of scan runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .common import utcnow
from .types import UTCDateTime

TRIGGERS = ("schedule", "manual", "event", "cli")
RUN_STATES = ("queued", "running", "succeeded", "failed", "retrying")
ACTIVE_STATES = ("queued", "running", "retrying")


class TaskRun(Base):
    """One run of a scan: who or what asked for it, how far it got and what it found."""

    __tablename__ = "task_runs"
    __table_args__ = (
        Index("ix_task_runs_task_id", "task", "id"),
        Index("ix_task_runs_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(60))
    trigger: Mapped[str] = mapped_column(String(10))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_by: Mapped[str | None] = mapped_column(String(254))  # who, for people to read
    state: Mapped[str] = mapped_column(String(10), default="queued")
    celery_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written with each progress step, so a run whose worker died can be told from a slow one.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    notified: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
