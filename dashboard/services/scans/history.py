"""The history of scan runs for the dashboard: filtered, keyset-paged, newest first."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ...models import RUN_STATES, TRIGGERS, Notification, TaskRun
from ..errors import NotFound, ValidationFailed
from .catalogue import SCANS


@dataclass
class RunFilters:
    """Task, state and trigger, each optional."""

    task: str | None = None
    state: str | None = None
    trigger: str | None = None

    def args(self) -> dict:
        """The query-string form, for links that keep the filters."""
        return {k: v for k, v in (("task", self.task), ("state", self.state),
                                  ("trigger", self.trigger)) if v}


def parse_filters(args) -> RunFilters:
    """Filters from a query string; ValidationFailed naming each bad field."""
    f = RunFilters(args.get("task") or None, args.get("state") or None,
                   args.get("trigger") or None)
    errors = {}
    if f.task and f.task not in SCANS:
        errors["task"] = "Choose a scan from the list."
    if f.state and f.state not in RUN_STATES:
        errors["state"] = "Choose a state from the list."
    if f.trigger and f.trigger not in TRIGGERS:
        errors["trigger"] = "Choose a trigger from the list."
    if errors:
        raise ValidationFailed("Some filters are not valid.", fields=errors)
    return f


def list_runs(session, f: RunFilters, *, before_id: int | None = None, limit: int = 25
              ) -> tuple[list[TaskRun], int | None]:
    """A page of runs (ix_task_runs_task_id serves the task filter) and the next cursor."""
    query = select(TaskRun)
    if f.task:
        query = query.where(TaskRun.task == f.task)
    if f.state:
        query = query.where(TaskRun.state == f.state)
    if f.trigger:
        query = query.where(TaskRun.trigger == f.trigger)
    if before_id:
        query = query.where(TaskRun.id < before_id)
    rows = list(session.scalars(query.order_by(TaskRun.id.desc()).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def get_run(session, run_id: int) -> TaskRun:
    """One run or NotFound."""
    run = session.get(TaskRun, run_id)
    if run is None:
        raise NotFound("No such task run.")
    return run


def run_notifications(session, run_id: int, limit: int = 20) -> list[Notification]:
    """The newest notifications a run made (ix_notifications_task_run_id)."""
    return list(session.scalars(select(Notification).where(Notification.task_run_id == run_id)
                                .order_by(Notification.id.desc()).limit(limit)))
