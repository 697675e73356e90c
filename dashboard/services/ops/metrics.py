"""The figures /metrics exports, counted from the database: one GROUP BY query per family per
scrape, whatever the number of wallets or runs.

Adding a family: write `def name(session) -> Iterable[Metric]` yielding prometheus_client
metric families and decorate it with `@family`; DatabaseCollector exports it from then on.
Counts of rows that retention prunes are gauges (they can fall); a distribution of such rows
is a gauge histogram.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from ...models import (
    DELIVERY_STATUSES,
    OUTSIDE_CHANNELS,
    RUN_STATES,
    WALLET_STATES,
    Notification,
    NotificationDelivery,
    TaskRun,
    Wallet,
)
from ..notifications.messages import TYPES
from ..sqlfuncs import epoch_seconds

FAMILIES: list[Callable] = []
#: Upper bounds (seconds) of the run-duration buckets: a chunked scan takes seconds to minutes.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def family(fn: Callable) -> Callable:
    """Export `fn(session)`'s metric families on every scrape."""
    FAMILIES.append(fn)
    return fn


def _counts(session, *columns) -> dict[tuple, int]:
    """Rows of the columns' table counted per distinct value(s), in one GROUP BY."""
    rows = session.execute(select(*columns, func.count()).group_by(*columns)).all()
    return {tuple(row[:-1]): row[-1] for row in rows}


@family
def task_runs(session) -> Iterable[Metric]:
    """Task runs kept (retention prunes old ones), by task and state; every state of a task
    that has runs is present, zeros too, so a state appearing is a change not a new series."""
    counts = _counts(session, TaskRun.task, TaskRun.state)
    metric = GaugeMetricFamily("quantify_task_runs", "Task runs recorded, by task and state.",
                               labels=["task", "state"])
    for task in sorted({task for task, _state in counts}):
        states = list(RUN_STATES) + sorted({s for t, s in counts if t == task} - set(RUN_STATES))
        for state in states:
            metric.add_metric([task, state], counts.get((task, state), 0))
    yield metric


@family
def task_run_durations(session) -> Iterable[Metric]:
    """How long finished runs took, per task, as a gauge histogram of the runs kept."""
    duration = epoch_seconds(TaskRun.finished_at) - epoch_seconds(TaskRun.started_at)
    buckets = [func.sum(case((duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    rows = session.execute(
        select(TaskRun.task, func.count(), func.coalesce(func.sum(duration), 0.0), *buckets)
        .where(TaskRun.finished_at.is_not(None), TaskRun.started_at.is_not(None))
        .group_by(TaskRun.task).order_by(TaskRun.task)).all()
    metric = GaugeHistogramMetricFamily(
        "quantify_task_run_duration_seconds",
        "Duration of the finished task runs kept, by task.", labels=["task"])
    for task, count, total, *in_bucket in rows:
        cumulative = [(str(bound), int(n or 0)) for bound, n in zip(DURATION_BUCKETS, in_bucket,
                                                                     strict=True)]
        metric.add_metric([task], cumulative + [("+Inf", count)], gsum_value=float(total))
    yield metric


@family
def notifications(session) -> Iterable[Metric]:
    """Notifications stored (retention prunes old ones), by type, every type present."""
    counts = _counts(session, Notification.type)
    metric = GaugeMetricFamily("quantify_notifications", "Notifications stored, by type.",
                               labels=["type"])
    for kind in list(TYPES) + sorted({k for (k,) in counts} - set(TYPES)):
        metric.add_metric([kind], counts.get((kind,), 0))
    yield metric


@family
def wallets(session) -> Iterable[Metric]:
    """Wallets by state, every state present."""
    counts = _counts(session, Wallet.state)
    metric = GaugeMetricFamily("quantify_wallets", "Wallets by state.", labels=["state"])
    for state in list(WALLET_STATES) + sorted({s for (s,) in counts} - set(WALLET_STATES)):
        metric.add_metric([state], counts.get((state,), 0))
    yield metric


@family
def deliveries(session) -> Iterable[Metric]:
    """Email and SMS deliveries kept, by channel and status, every pair present (one GROUP
    BY over the partial index of outside deliveries)."""
    d = NotificationDelivery
    counts = dict(((c, s), n) for c, s, n in session.execute(
        select(d.channel, d.status, func.count()).where(d.channel != "in_app")
        .group_by(d.channel, d.status)).all())
    metric = GaugeMetricFamily("quantify_deliveries",
                               "Email and SMS deliveries kept, by channel and status.",
                               labels=["channel", "status"])
    for channel in OUTSIDE_CHANNELS:
        for status in DELIVERY_STATUSES:
            metric.add_metric([channel, status], counts.get((channel, status), 0))
    yield metric


class DatabaseCollector(Collector):
    """Every registered family, read with one session per scrape."""

    def __init__(self, session):
        """`session`: a SQLAlchemy session (the caller closes it after the scrape)."""
        self.session = session

    def describe(self) -> list:
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The families, in registration order."""
        for fn in FAMILIES:
            yield from fn(self.session)
