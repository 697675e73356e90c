"""The history of scan runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
        # At most one active run per scan, enforced by the database on SQLite and PostgreSQL
        # alike: two Run now clicks, two beats or a beat and a click cannot both start one.
        Index("uq_task_runs_one_active", "task", unique=True,
              sqlite_where=text("state IN ('queued', 'running', 'retrying')"),
              postgresql_where=text("state IN ('queued', 'running', 'retrying')")),
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
    # The scan's reference time, fixed when the run starts so every chunk (on any worker)
    # judges windows and days against the same instant.
    scan_now: Mapped[datetime | None] = mapped_column(UTCDateTime())
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    # Chunks whose notifications have been published: the run succeeds when this reaches
    # chunks_total, never while a chunk that has committed is still publishing.
    chunks_published: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class TaskRunChunk(Base):
    """One finished chunk (an id range) of a run. Its unique key makes a chunk task that is
    delivered twice (a retry, a redelivery after a lost worker) do its work only once."""

    __tablename__ = "task_run_chunks"
    __table_args__ = (UniqueConstraint("task_run_id", "first_id", name="uq_task_run_chunk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_run_id: Mapped[int] = mapped_column(ForeignKey("task_runs.id", ondelete="CASCADE"))
    first_id: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    notified: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set once the chunk's notifications were published; a redelivered chunk that finds its
    # row without it publishes them (its first delivery died between commit and publish).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
