"""The operators' notifications log: every notification, filtered, searched and keyset-paged.

Staff have no read state of their own (services.notifications gives them none), so "read" here
is the residents' reading: a notification is unread while any of its in-app deliveries is.
Every filter is a condition on indexed columns where one exists (type, created_at, wallet,
task run) and paging is by id, so a page costs the same on the first and the ten-thousandth.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select

from ...models import Estate, Notification, NotificationDelivery, Unit, Wallet
from ..errors import ValidationFailed
from ..ids import parse_id
from .messages import PRIORITIES, PRIORITY_LEVELS, TYPES
from .store import IN_APP

# What the read filter accepts; "none": nobody to deliver to. The pages name them.
READ_STATES = ("read", "unread", "none")
# The days the date filter takes. Beyond them a local day's bounds in UTC need years before 1
# or after 9999, which Python cannot hold: 0001-01-01 and 9999-12-31 were a 500
# (tests/test_query_fuzz.py). No notification is older than the system or centuries ahead.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


@dataclass
class LogFilters:
    """What the operator asked for; every field optional."""

    type: str | None = None
    priority: str | None = None
    day: date | None = None
    estate_id: int | None = None
    read: str | None = None
    q: str | None = None
    wallet_id: int | None = None
    task_run_id: int | None = None

    def args(self) -> dict:
        """The query-string form, for links that keep the filters."""
        values = {"type": self.type, "priority": self.priority,
                  "date": self.day.isoformat() if self.day else None,
                  "estate": self.estate_id, "read": self.read, "q": self.q,
                  "wallet": self.wallet_id, "run": self.task_run_id}
        return {k: v for k, v in values.items() if v not in (None, "")}


def parse_filters(args) -> LogFilters:
    """Filters from a query string; ValidationFailed naming each bad field."""
    errors: dict[str, str] = {}
    f = LogFilters()
    f.type = args.get("type") or None
    if f.type and f.type not in TYPES:
        errors["type"] = "Choose a type from the list."
    f.priority = args.get("priority") or None
    if f.priority and f.priority not in PRIORITY_LEVELS:
        errors["priority"] = "Choose a priority from the list."
    raw_day = args.get("date") or ""
    if raw_day:
        try:
            f.day = date.fromisoformat(raw_day)
        except ValueError:
            errors["date"] = "Use a date like 2025-03-31."
        else:
            if not FIRST_DAY <= f.day <= LAST_DAY:
                f.day = None
                errors["date"] = (f"Use a date from {FIRST_DAY.isoformat()} to "
                                  f"{LAST_DAY.isoformat()}.")
    f.read = args.get("read") or None
    if f.read and f.read not in READ_STATES:
        errors["read"] = "Choose read, unread or no recipient."
    for name, attr in (("estate", "estate_id"), ("wallet", "wallet_id"), ("run", "task_run_id")):
        raw = args.get(name) or ""
        if raw:
            if parse_id(raw) is None:
                errors[name] = "Use a whole number."
            else:
                setattr(f, attr, parse_id(raw))
    f.q = (args.get("q") or "").strip()[:100] or None
    if errors:
        raise ValidationFailed("Some filters are not valid.", fields=errors)
    return f


def _unread_delivery(notification_id_col):
    """An unread in-app delivery of the notification exists."""
    return exists(select(NotificationDelivery.id).where(
        NotificationDelivery.notification_id == notification_id_col,
        NotificationDelivery.channel == IN_APP, NotificationDelivery.read_at.is_(None)))


def _any_delivery(notification_id_col):
    """The notification was delivered in-app to someone."""
    return exists(select(NotificationDelivery.id).where(
        NotificationDelivery.notification_id == notification_id_col,
        NotificationDelivery.channel == IN_APP))


def search_condition(q: str):
    """Title or message containing `q`, or the wallet's unit number starting with it."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    unit_match = exists(select(Wallet.id).join(Unit, Unit.id == Wallet.unit_id).where(
        Wallet.id == Notification.wallet_id, Unit.number.ilike(escaped + "%", escape="\\")))
    return or_(Notification.title.ilike(f"%{escaped}%", escape="\\"),
               Notification.message.ilike(f"%{escaped}%", escape="\\"), unit_match)


def query_log(session, f: LogFilters, *, tz: str, before_id: int | None = None,
              limit: int = 50) -> tuple[list[Notification], int | None]:
    """A page of notifications, newest first, and the cursor (last id) of the next page."""
    query = select(Notification)
    if f.type:
        query = query.where(Notification.type == f.type)
    if f.priority:
        # Priority follows from the type; filtering on the indexed type is the fast path.
        kinds = [k for k, p in PRIORITIES.items() if p == f.priority]
        query = query.where(Notification.type.in_(kinds))
    if f.day:
        start, end = day_span(f.day, tz)
        query = query.where(Notification.created_at >= start, Notification.created_at < end)
    if f.wallet_id:
        query = query.where(Notification.wallet_id == f.wallet_id)
    if f.task_run_id:
        query = query.where(Notification.task_run_id == f.task_run_id)
    if f.estate_id:
        # Correlated, so the newest-first walk stops after a page of matches; an IN list
        # would first collect the ids of every wallet on the estate (200,000 of them).
        query = query.where(exists(
            select(Wallet.id).join(Unit, Unit.id == Wallet.unit_id)
            .where(Wallet.id == Notification.wallet_id, Unit.estate_id == f.estate_id)))
    if f.read == "unread":
        query = query.where(_unread_delivery(Notification.id))
    elif f.read == "read":
        query = query.where(and_(_any_delivery(Notification.id),
                                 ~_unread_delivery(Notification.id)))
    elif f.read == "none":
        query = query.where(~_any_delivery(Notification.id))
    if f.q:
        query = query.where(search_condition(f.q))
    if before_id:
        query = query.where(Notification.id < before_id)
    rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def day_span(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC bounds of a local calendar day."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time.min, zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, zone)


@dataclass
class RowInfo:
    """What a log row shows beside the notification itself."""

    unit: str | None
    estate: str | None
    delivered: int
    read: int


def row_info(session, rows: list[Notification]) -> dict[int, RowInfo]:
    """Unit, estate and read counts for one page of notifications (two queries)."""
    ids = [n.id for n in rows]
    wallet_ids = {n.wallet_id for n in rows if n.wallet_id}
    places = {}
    if wallet_ids:
        places = {wid: (number, estate) for wid, number, estate in session.execute(
            select(Wallet.id, Unit.number, Estate.name).join(Unit, Unit.id == Wallet.unit_id)
            .join(Estate, Estate.id == Unit.estate_id).where(Wallet.id.in_(wallet_ids)))}
    counts = {}
    if ids:
        counts = {nid: (total, read or 0) for nid, total, read in session.execute(
            select(NotificationDelivery.notification_id, func.count(),
                   func.count(NotificationDelivery.read_at))
            .where(NotificationDelivery.notification_id.in_(ids),
                   NotificationDelivery.channel == IN_APP)
            .group_by(NotificationDelivery.notification_id))}
    result = {}
    for n in rows:
        number, estate = places.get(n.wallet_id, (None, None))
        total, read = counts.get(n.id, (0, 0))
        result[n.id] = RowInfo(number, estate, total, read)
    return result
