"""High-usage analysis: a meter's last 24 hours against its daily average before that.

A meter is flagged when its consumption over the last 24 h is more than 50% above its average
daily consumption over the 30 days before, and it has at least 7 days of history. Consumption
is the per-reading delta (never the cumulative register), so a replaced meter whose register
restarts at zero does not look like a spike or a negative day.

A pass reads each meter's recent usage first (usage_filter), which rules out nearly every meter
without touching its readings; the few it cannot rule out are judged from their readings by
the rule below, so what is flagged is exactly what the readings say.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, select

from ...models import Estate, Meter, MeterReading, Unit, Wallet
from .. import notifications
from ..notifications import messages
from .usage_filter import candidates

WINDOW = timedelta(hours=24)
BASELINE = timedelta(days=30)
MIN_HISTORY = timedelta(days=7)
THRESHOLD = Decimal("1.5")  # more than 50% above the average
IDS_PER_STATEMENT = 10_000


@dataclass
class UsageFindings:
    """What one pass over a range of meters found."""

    scanned: int = 0
    skipped: int = 0
    notification_ids: list[int] = field(default_factory=list)

    @property
    def notified(self) -> int:
        """Notifications this pass stored."""
        return len(self.notification_ids)


def local_day(now: datetime, tz: str) -> str:
    """The local calendar date, the unit of high-usage de-duplication."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def usage_query(where, now: datetime):
    """Per meter: consumption in the last 24 h, in the 30 days before, first reading time."""
    window_start = now - WINDOW
    baseline_start = window_start - BASELINE
    r = MeterReading
    recent = func.sum(case((r.taken_at > window_start, r.consumption), else_=0))
    before = func.sum(case((r.taken_at <= window_start, r.consumption), else_=0))
    return (
        select(r.meter_id, recent.label("last_24h"), before.label("baseline"),
               func.min(r.taken_at).label("first_at"))
        .join(Meter, Meter.id == r.meter_id)
        .where(where, r.taken_at > baseline_start, r.taken_at <= now)
        .group_by(r.meter_id)
    )


def is_high(last_24h: Decimal, baseline: Decimal, first_at: datetime, now: datetime
            ) -> tuple[bool, Decimal]:
    """(flagged?, daily average) for one meter's figures."""
    window_start = now - WINDOW
    history = window_start - first_at
    if history < MIN_HISTORY:
        return False, Decimal(0)
    # baseline / days in whole thousandths, rounded half to even, in integers: exact (Decimal
    # division rounds at 28 digits, which could tip a tie the other way) and fast.
    span = min(history, BASELINE) // timedelta(microseconds=1)
    whole, rest = divmod(int(baseline.scaleb(3)) * 86_400_000_000, span)
    if 2 * rest > span or (2 * rest == span and whole % 2):
        whole += 1
    average = Decimal(whole).scaleb(-3)
    return (average > 0 and last_24h > average * THRESHOLD), average


def judged(where, now: datetime):
    """SELECT of the meters matching `where` (a condition on meters) that have readings in
    the rule's span: their figures, from the readings, and what an alert names."""
    usage = usage_query(where, now).subquery()
    return (
        select(usage, Meter.utility, Meter.serial, Wallet.id, Unit.number, Estate.name)
        .join(Meter, Meter.id == usage.c.meter_id)
        .join(Unit, Unit.id == Meter.unit_id).join(Estate, Estate.id == Unit.estate_id)
        .join(Wallet, Wallet.unit_id == Unit.id, isouter=True)
    )


def notify(session, rows, now: datetime, *, tz: str, task_run_id: int | None) -> UsageFindings:
    """Store an alert for each of the `judged` rows the rule flags (once per local day);
    `scanned` is left to the caller."""
    found = UsageFindings()
    day = local_day(now, tz)
    pending = []
    for meter_id, last_24h, baseline, first_at, utility, serial, wallet_id, number, estate in rows:
        last_24h, baseline = Decimal(last_24h or 0), Decimal(baseline or 0)
        flagged, average = is_high(last_24h, baseline, first_at, now)
        if not flagged:
            continue
        title, message = messages.high_usage(f"{number}, {estate}", utility, last_24h, average)
        pending.append(notifications.notification_row(
            "high_usage", title, message, dedup_key=f"high_usage:{meter_id}:{day}", now=now,
            wallet_id=wallet_id, meter_id=meter_id, task_run_id=task_run_id,
            data={"meter_id": meter_id, "serial": serial, "utility": utility,
                  "last_24h": str(last_24h), "daily_average": str(average),
                  "task_run_id": task_run_id, "local_day": day}))
    found.notification_ids = notifications.store(session, pending)
    found.skipped = len(pending) - len(found.notification_ids)
    return found


def analyze(session, where, now: datetime, *, tz: str = "Africa/Johannesburg",
            task_run_id: int | None = None) -> UsageFindings:
    """Flag and notify high usage for the meters matching `where` (a condition on meters),
    judged from their readings alone; `scanned` is left to the caller."""
    rows = session.execute(judged(where, now)).all()
    return notify(session, rows, now, tz=tz, task_run_id=task_run_id)


@lru_cache(maxsize=4)
def chunk_statements(now: datetime):
    """A chunk's statements at `now`, for meter ids :first to :last: the meters usage_filter
    leaves, those meters (:ids) judged from their readings, and how many meters the chunk
    has. Made once per scan: SQLAlchemy works out a statement's cache key once per object, and
    for a fresh object per chunk that cost about as much as running it. The meters left are
    passed as a list rather than a subquery, so PostgreSQL plans their readings' look-ups for
    the few they are, not for a guess."""
    first, last = bindparam("first"), bindparam("last")
    return (candidates(first, last, now, window=WINDOW, baseline=BASELINE,
                       min_history=MIN_HISTORY, threshold=THRESHOLD),
            judged(Meter.id.in_(bindparam("ids", expanding=True)), now),
            select(func.count()).select_from(Meter).where(Meter.id.between(first, last)))


def usage_pass(session, kind: str, first: int, last: int, *, now: datetime, tz: str,
               task_run_id: int | None = None) -> UsageFindings:
    """One chunk of the high-usage scan: the meters with ids first..last (`kind` is always
    high_usage; every pass takes it, see the catalogue)."""
    maybe, judge, count = chunk_statements(now)
    ids = {"first": first, "last": last}
    left = list(session.scalars(maybe, ids))
    rows = [row for at in range(0, len(left), IDS_PER_STATEMENT)  # SQLite's parameter limit
            for row in session.execute(judge, {"ids": left[at:at + IDS_PER_STATEMENT]})]
    found = notify(session, rows, now, tz=tz, task_run_id=task_run_id)
    found.scanned = session.scalar(count, ids) or 0
    return found
