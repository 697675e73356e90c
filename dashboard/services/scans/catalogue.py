"""Every scan in one table: its name, what it finds, what it walks, when it runs, in words,
and the pass that does one chunk of it. Beat's schedule, the worker's coordinator tasks, the
API (and its OpenAPI document), the pages, the CLI and the benchmarks all read this table,
so a new scan is one row here plus its pass function.

A pass is called as `run_pass(session, kind, first, last, *, now, tz, task_run_id)` on the
ids first..last of the table the scan walks (wallets, meters or estates), in the caller's
transaction, and returns an object with `scanned`, `notified`, `skipped` and
`notification_ids`; `tz` is CELERY_TIMEZONE, the zone of estates without their own. The
critical-credit pass also makes credit_depleted (scans/depleted.py); the digests walk the
estates, one digest each per local day.

The housekeeping entries of beat (reaping, pruning, the sweeps, payment expiry, the test
probe) live beside it in their own table: they are tasks on a schedule, not scans with a run history.
Schedules are written `crontab(...)` (schedules.py: Celery's crontab, made when first read,
so reading the catalogue does not import Celery).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ...models import Estate, Meter, Notification, Wallet
from . import credit_alerts, digests, high_usage, silent_meters
from .schedules import celery_schedule, crontab

#: What a scan can walk: the table whose ids are cut into chunks, and the notification column
#: that ties a notification to a row of it (a chunk's notifications are found by it).
WALKS = {
    "wallets": (Wallet, Notification.wallet_id),
    "meters": (Meter, Notification.meter_id),
    "estates": (Estate, Notification.data["estate_id"].as_integer()),
}


@dataclass(frozen=True)
class Scan:
    """One scan: a Celery task with a run history, scheduled by beat and run on demand."""

    name: str  # the Celery task name, the API's <name> and the pages' heading
    kind: str  # the notification type it makes
    walks: str  # a key of WALKS
    schedule: crontab  # in CELERY_TIMEZONE
    description: str  # the schedule in words, as the pages and GET /scans show it
    run_pass: Callable  # one chunk: see the module docstring

    @property
    def model(self):
        """The model whose ids the scan walks."""
        return WALKS[self.walks][0]

    @property
    def notification_key(self):
        """The Notification column holding the id of the walked row."""
        return WALKS[self.walks][1]


def _table(*scans: Scan) -> dict[str, Scan]:
    """The scans by name, in the order the pages list them."""
    return {scan.name: scan for scan in scans}


SCANS: dict[str, Scan] = _table(
    Scan("check_low_credit_wallets", "low_credit", "wallets", crontab(hour=6, minute=0),
         "Daily at 06:00", credit_alerts.credit_pass),
    Scan("check_critical_credit_wallets", "critical_credit", "wallets",
         crontab(minute=0, hour="*/4"), "Every 4 hours (00:00, 04:00, 08:00, …)",
         credit_alerts.credit_pass),
    Scan("analyze_high_usage", "high_usage", "meters", crontab(hour=7, minute=0),
         "Daily at 07:00", high_usage.usage_pass),
    Scan("send_operator_digests", "operator_digest", "estates", crontab(hour=7, minute=30),
         "Daily at 07:30", digests.digest_pass),
    Scan("check_silent_meters", "meter_silent", "meters", crontab(hour=8, minute=0),
         "Daily at 08:00", silent_meters.silent_pass),
)

#: Beat's other entries: task name → schedule (no run history, no trigger argument).
#: The webhook sweep hands due messages to send tasks (queue `deliveries`, see
#: worker/celery_app.py ROUTES): every few seconds, so a message leaves within seconds of
#: its event, and its retries follow the `next_attempt_at` in its row.
HOUSEKEEPING: dict[str, crontab | timedelta] = {
    "reap_stale_task_runs": crontab(minute="*/5"),
    "prune_old_data": crontab(hour=3, minute=30),
    "sweep_transaction_notifications": crontab(minute="*"),
    # Pending payments past their 30 minutes become `expired` (reading one does it too).
    "expire_payments": crontab(minute="*"),
    "sweep_webhooks": timedelta(seconds=5),
    "prune_webhooks": crontab(hour=3, minute=45),
    # Run-out sort keys whose oldest purchase left the 30-day window (services/forecast).
    "refresh_forecasts": crontab(minute="*/10"),
}
#: The test-only entry sent every BEAT_PROBE_SECONDS when that is set: tests count its
#: deliveries to show that two beats fire each entry once.
PROBE = "beat_probe"


def for_kind(kind: str) -> Scan:
    """The scan that makes notifications of `kind` (KeyError if none does)."""
    for scan in SCANS.values():
        if scan.kind == kind:
            return scan
    raise KeyError(kind)


def beat_schedule(probe_seconds: float = 0) -> dict:
    """Beat's schedule: every scan (trigger `schedule`), the housekeeping entries and, when
    `probe_seconds` > 0, the probe."""
    schedule = {scan.name: {"task": scan.name, "schedule": celery_schedule(scan.schedule),
                            "kwargs": {"trigger": "schedule"}} for scan in SCANS.values()}
    schedule.update({name: {"task": name, "schedule": celery_schedule(every)}
                     for name, every in HOUSEKEEPING.items()})
    if probe_seconds and probe_seconds > 0:
        schedule[PROBE] = {"task": PROBE, "schedule": timedelta(seconds=probe_seconds)}
    return schedule


def next_run(schedule: crontab, now: datetime, tz: str) -> datetime:
    """The next local time after `now` at which `schedule` fires.

    Walks forward a minute at a time over the crontab's fields: at most a week of minutes,
    cheap enough for a few scans on a page, and exact across daylight-saving changes.
    """
    candidate = now.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
    for _ in range(60 * 24 * 8):
        candidate += timedelta(minutes=1)
        if (candidate.minute in schedule.minute and candidate.hour in schedule.hour
                and candidate.isoweekday() % 7 in schedule.day_of_week
                and candidate.day in schedule.day_of_month
                and candidate.month in schedule.month_of_year):
            return candidate
    raise ValueError("the schedule never fires")
