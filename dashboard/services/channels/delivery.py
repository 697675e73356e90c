"""The life of an email or SMS delivery: due → (held →) claimed → sent, failed or retried.

    pending ──triage──▶ suppressed   channel not configured, turned off, read in time
       │   └─triage──▶ held ──(held_until passes: release)──▶ pending
       └─claim──▶ sending ──▶ sent                the provider accepted it
                      ├─────▶ failed               permanent error, or attempts used up
                      └─────▶ pending (retry_at)    transient error, with backoff

At most once: a send is claimed first by a conditional UPDATE (pending → sending, attempts
+ 1), committed before the provider is called, and only a claim that changed the row may
send; a retried or doubly delivered task finds it `sending` or `sent` and leaves it. A
process killed after the provider accepted and before the row was updated leaves it
`sending`: `fail_stale` fails such rows "outcome unknown" once SENDING_TIMEOUT has passed,
and nothing ever sends them again by itself (operators may Retry). The window is therefore
closed against resending and bounded, in what operators must check, to the rows of slices
in flight when a worker died.

Every step is set-based over a slice of ids (the sender) or over what is due (the sweep).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Float,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)

from ...models import (
    ChannelPreference,
    Estate,
    Notification,
    NotificationDelivery,
    QuietHours,
    Unit,
    Wallet,
)
from ...models.types import UTCDateTime
from ..errors import Conflict, NotFound
from ..sqlfuncs import add_hours
from .preferences import DEFAULT_QUIET, URGENT, hhmm

D = NotificationDelivery
OUTSIDE = D.channel != "in_app"  # repeats the partial indexes' predicate (see the model)
MAX_ATTEMPTS = 5
SETTINGS = {"email": "EMAIL_URL", "sms": "SMS_URL"}
NOT_CONFIGURED = "The {channel} channel is not configured ({setting} is unset)."
TURNED_OFF = "Turned off by the resident before it went."
READ_IN_TIME = "Read in time: the in-app notification was read before the SMS was due."
WAITING_READ = "Waiting for the estate's SMS delay: sent only if still unread by then."
QUIET = "Quiet hours until {until}."
OUTCOME_UNKNOWN = ("Outcome unknown: the sender stopped while the provider had it, so it is "
                   "not sent again by itself. Retry if it did not arrive.")


@dataclass
class Claimed:
    """A delivery claimed for sending, with what its message is made of."""

    id: int
    notification_id: int
    channel: str
    address: str
    attempts: int
    kind: str
    title: str
    message: str
    data: dict
    wallet_id: int | None
    unit: str
    estate: str
    zone: str | None = None  # the estate's time zone (None: the system's)
    made_at: datetime | None = None  # when the notification was made


@dataclass
class Slice:
    """What one step of the sender did: ids whose status changed (to publish), the rows to
    send."""

    changed: list[int] = field(default_factory=list)
    claimed: list[Claimed] = field(default_factory=list)


def due_ids(session, channel: str, now: datetime, limit: int) -> list[int]:
    """The oldest pending deliveries of `channel` that may go now (ix_deliveries_channel_
    status_id: the walk stops after `limit` matches)."""
    return list(session.scalars(
        select(D.id).where(OUTSIDE, D.channel == channel, D.status == "pending",
                           or_(D.retry_at.is_(None), D.retry_at <= now))
        .order_by(D.id).limit(limit)))


def _estate_delay():
    """The SMS delay (minutes) of the estate a delivery's notification is about."""
    return (select(Estate.sms_delay_minutes)
            .join(Unit, Unit.estate_id == Estate.id).join(Wallet, Wallet.unit_id == Unit.id)
            .join(Notification, Notification.wallet_id == Wallet.id)
            .where(Notification.id == D.notification_id).correlate(D).scalar_subquery())


def _quiet(column: str, default: int):
    """The delivery's recipient's quiet-hours start or end (minutes), default if none."""
    return func.coalesce(select(getattr(QuietHours, column))
                         .where(QuietHours.user_id == D.user_id).correlate(D)
                         .scalar_subquery(), default)


def _update(session, ids: list[int], where, values: dict) -> list[int]:
    """UPDATE the pending rows among `ids` matching `where`; the ids changed."""
    if not ids:
        return []
    return list(session.scalars(
        update(D).where(D.id.in_(ids), D.status == "pending", where).values(values)
        .returning(D.id)))


def triage(session, ids: list[int], now: datetime, *, tz: str, configured: dict[str, bool]
           ) -> list[int]:
    """Decide what happens to pending deliveries before they are claimed: suppressed (the
    channel is off, the resident turned it off, an SMS read in time) or held (an SMS delay,
    quiet hours). Returns the ids whose status changed. Five UPDATEs whatever the count."""
    changed = []
    for channel, on in configured.items():
        if not on:
            changed += _update(session, ids, D.channel == channel, {
                "status": "suppressed", "error": NOT_CONFIGURED.format(
                    channel=channel.upper() if channel == "sms" else channel,
                    setting=SETTINGS[channel])})
    kind = select(Notification.type).where(Notification.id == D.notification_id) \
        .correlate(D).scalar_subquery()  # the delivery being updated, even inside EXISTS
    turned_off = exists(select(ChannelPreference.user_id).where(
        ChannelPreference.user_id == D.user_id, ChannelPreference.type == kind,
        case((D.channel == "email", ChannelPreference.email), else_=ChannelPreference.sms)
        .is_(false())))
    changed += _update(session, ids, turned_off, {"status": "suppressed", "error": TURNED_OFF})
    changed += _sms_delay(session, ids, now)
    changed += _quiet_hours(session, ids, now, tz, kind)
    return changed


def _sms_delay(session, ids: list[int], now: datetime) -> list[int]:
    """An estate's SMS delay: hold an SMS until created_at + delay; once it passed, suppress
    it if the recipient read the notification in-app meanwhile."""
    delay = _estate_delay()
    until = add_hours(D.created_at, cast(delay, Float) / 60.0)
    sms = and_(D.channel == "sms", func.coalesce(delay, 0) > 0)
    in_app = D.__table__.alias("in_app")
    read = exists(select(in_app.c.id).where(
        in_app.c.notification_id == D.notification_id, in_app.c.user_id == D.user_id,
        in_app.c.channel == "in_app", in_app.c.read_at.is_not(None)))
    suppressed = _update(session, ids, and_(sms, until <= now, read),
                         {"status": "suppressed", "error": READ_IN_TIME})
    held = _update(session, ids, and_(sms, until > now),
                   {"status": "held", "held_until": until, "error": WAITING_READ})
    return suppressed + held


def _quiet_hours(session, ids: list[int], now: datetime, tz: str, kind) -> list[int]:
    """Hold what is not urgent while its recipient's quiet hours last, until they end.

    In SQL for every recipient at once: `now` in local minutes against each one's start and
    end; the end today or tomorrow, as UTC. (Local midnight plus minutes: exact for zones
    without daylight saving, such as Africa/Johannesburg; elsewhere at most an hour off on
    the two days a year the clocks change.)
    """
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    today = literal(datetime.combine(local.date(), time.min, zone), UTCDateTime())
    tomorrow = literal(datetime.combine(local.date() + timedelta(days=1), time.min, zone),
                       UTCDateTime())
    start, end = _quiet("start_minute", DEFAULT_QUIET[0]), _quiet("end_minute", DEFAULT_QUIET[1])
    inside = case((start < end, and_(start <= minute, minute < end)),
                  (start > end, or_(start <= minute, minute < end)), else_=False)
    until = case((end > minute, add_hours(today, cast(end, Float) / 60.0)),
                 else_=add_hours(tomorrow, cast(end, Float) / 60.0))
    held = _update(session, ids, and_(not_(kind.in_(URGENT)), inside.is_(true())),
                   {"status": "held", "held_until": until, "error": "Quiet hours."})
    if held:  # the local end time in words, per distinct end (a handful of statements)
        for end_minute in set(session.scalars(select(end).where(D.id.in_(held)))):
            ends = select(D.id).where(D.id.in_(held), end == end_minute)
            session.execute(update(D).where(D.id.in_(ends)).values(
                error=QUIET.format(until=hhmm(end_minute))))
    return held


def claim(session, ids: list[int], now: datetime) -> list[int]:
    """pending → sending for these ids, attempts + 1: the ids this call claimed (a row
    another sender claimed first, or triage moved, is not among them)."""
    if not ids:
        return []
    return sorted(session.scalars(
        update(D).where(D.id.in_(ids), D.status == "pending", OUTSIDE)
        .values(status="sending", attempts=D.attempts + 1, claimed_at=now)
        .returning(D.id)))


def claimed_rows(session, ids: list[int]) -> list[Claimed]:
    """The claimed deliveries with their notification, unit and estate (one query)."""
    if not ids:
        return []
    rows = session.execute(
        select(D.id, D.notification_id, D.channel, D.address, D.attempts, Notification.type,
               Notification.title, Notification.message, Notification.data,
               Notification.wallet_id, Unit.number, Estate.name, Estate.timezone,
               Notification.created_at)
        .join(Notification, Notification.id == D.notification_id)
        .outerjoin(Wallet, Wallet.id == Notification.wallet_id)
        .outerjoin(Unit, Unit.id == Wallet.unit_id).outerjoin(Estate, Estate.id == Unit.estate_id)
        .where(D.id.in_(ids)).order_by(D.id))
    return [Claimed(*(row[:9]), row[9], row[10] or "", row[11] or "", row[12], row[13])
            for row in rows]


def take_slice(session, channel: str, now: datetime, *, limit: int, tz: str,
               configured: dict[str, bool]) -> Slice:
    """Triage and claim up to `limit` due deliveries of `channel` (the caller commits before
    sending anything)."""
    ids = due_ids(session, channel, now, limit)
    changed = triage(session, ids, now, tz=tz, configured=configured)
    claimed = claim(session, ids, now)
    return Slice(changed + claimed, claimed_rows(session, claimed))


@dataclass
class Result:
    """The provider's answer for one claimed delivery."""

    id: int
    sent: bool
    transient: bool = False
    error: str | None = None
    retry_after: float | None = None
    attempted: bool = True  # False: never handed to the provider (the slice stopped)


def backoff(attempts: int, delays: tuple[float, ...]) -> float:
    """Seconds before attempt `attempts` + 1 (the last delay repeats)."""
    return delays[min(max(attempts, 1), len(delays)) - 1]


def record(session, results: list[Result], attempts: dict[int, int], now: datetime, *,
           delays: tuple[float, ...]) -> tuple[list[int], float | None]:
    """Write the outcomes of a slice: sent, failed at once (permanent), failed after the last
    attempt, back to pending with a backoff, or given back untried. Only rows still
    `sending` change. Returns the ids changed and the soonest retry (seconds), if any."""
    changed, soonest = [], None
    sent = [r.id for r in results if r.sent]
    if sent:
        changed += session.scalars(update(D).where(D.id.in_(sent), D.status == "sending")
                                   .values(status="sent", sent_at=now, error=None,
                                           retry_at=None).returning(D.id)).all()
    for r in results:
        if r.sent:
            continue
        values: dict
        if not r.attempted:
            values = {"status": "pending", "attempts": D.attempts - 1, "claimed_at": None,
                      "retry_at": now + timedelta(seconds=delays[0])}
            soonest = min(soonest or delays[0], delays[0])
        elif r.transient and attempts.get(r.id, MAX_ATTEMPTS) < MAX_ATTEMPTS:
            wait = max(backoff(attempts[r.id], delays), r.retry_after or 0)
            values = {"status": "pending", "error": r.error, "claimed_at": None,
                      "retry_at": now + timedelta(seconds=wait)}
            soonest = wait if soonest is None else min(soonest, wait)
        elif r.transient:
            values = {"status": "failed", "error": f"Gave up after {MAX_ATTEMPTS} attempts: "
                                                   f"{r.error}"}
        else:
            values = {"status": "failed", "error": r.error}
        changed += session.scalars(update(D).where(D.id == r.id, D.status == "sending")
                                   .values(values).returning(D.id)).all()
    return changed, soonest


def release_held(session, now: datetime, limit: int = 5000) -> list[int]:
    """held → pending for every hold that has ended (ix_deliveries_held)."""
    ids = list(session.scalars(select(D.id).where(D.status == "held", D.held_until <= now)
                               .order_by(D.id).limit(limit)))
    if not ids:
        return []
    return list(session.scalars(update(D).where(D.id.in_(ids), D.status == "held")
                                .values(status="pending", error=None, retry_at=None)
                                .returning(D.id)))


def fail_stale(session, now: datetime, *, timeout: float) -> list[int]:
    """Fail, "outcome unknown", every row left `sending` longer than `timeout` seconds: its
    sender died after claiming it, perhaps after the provider accepted it."""
    cutoff = now - timedelta(seconds=timeout)
    return list(session.scalars(
        update(D).where(OUTSIDE, D.status == "sending", D.claimed_at < cutoff)
        .values(status="failed", error=OUTCOME_UNKNOWN).returning(D.id)))


def due_channels(session, now: datetime) -> list[str]:
    """The channels with deliveries that may go now."""
    return [c for c in ("email", "sms") if session.scalar(
        select(D.id).where(OUTSIDE, D.channel == c, D.status == "pending",
                           or_(D.retry_at.is_(None), D.retry_at <= now)).limit(1))]


def retry(session, delivery_id: int) -> NotificationDelivery:
    """An operator's Retry: a failed delivery goes again from the start (Conflict for any
    other status, NotFound for no such delivery)."""
    row = session.get(D, delivery_id)
    if row is None:
        raise NotFound("No such delivery.")
    changed = session.execute(update(D).where(D.id == delivery_id, D.status == "failed")
                              .values(status="pending", attempts=0, error=None,
                                      retry_at=None, claimed_at=None)).rowcount
    if not changed:
        raise Conflict(f"Only a failed delivery can be retried; this one is {row.status}.")
    session.refresh(row)
    return row
