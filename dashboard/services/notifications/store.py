"""Storing notifications once and delivering them to the residents of the wallet's unit."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Date, Integer, and_, bindparam, literal, or_, select, true, update

from ...models import Notification, NotificationDelivery, Occupancy, User, Wallet, utcnow
from ...models.types import UTCDateTime
from .. import webhooks
from ..sqlfuncs import insert_ignore, joined_in_order
from .messages import OPERATOR_TYPES, PRIORITIES

IN_APP = "in_app"


def notification_row(kind: str, title: str, message: str, *, dedup_key: str, now: datetime,
                     wallet_id: int | None = None, meter_id: int | None = None,
                     transaction_id: int | None = None, task_run_id: int | None = None,
                     data: dict | None = None) -> dict:
    """The column values of one notification, ready for `store`."""
    return {
        "type": kind, "title": title, "message": message, "priority": PRIORITIES[kind],
        "wallet_id": wallet_id, "meter_id": meter_id, "transaction_id": transaction_id,
        "task_run_id": task_run_id, "data": data or {}, "dedup_key": dedup_key,
        "created_at": now,
    }


def store(session, rows: list[dict]) -> list[int]:
    """Insert notifications, skipping any whose dedup_key exists, and deliver the new ones.

    Returns the ids of the notifications this call created (in id order). Two statements
    whatever the number of rows: the insert and the deliveries. ON CONFLICT DO NOTHING skips
    a key stored before (a task delivered twice, a claim re-read) or by a racing writer, and
    RETURNING names only the rows this insert made, so a repeat is never reported (and
    published) as new. The rows are all residents' types or all operators' (OPERATOR_TYPES).
    """
    if not rows:
        return []
    kinds = {row["type"] for row in rows}
    operators = bool(kinds & set(OPERATOR_TYPES))
    if operators and kinds - set(OPERATOR_TYPES):
        raise ValueError("store residents' and operators' notifications apart")
    stmt = insert_ignore(session, Notification.__table__).returning(Notification.__table__.c.id)
    ids = sorted(session.scalars(stmt, rows))
    if ids:
        deliver(session, ids[0], ids[-1], operators=operators)
    return ids


#: The columns a wallet alert's SELECT gives, in order (store_selected).
ALERT_COLUMNS = ["type", "title", "message", "priority", "wallet_id", "data", "dedup_key",
                 "created_at", "task_run_id"]


def store_selected(session, rows) -> list[int]:
    """Insert the notifications a SELECT of ALERT_COLUMNS gives (a scan's wallet alerts),
    skipping keys that exist, and deliver the new ones; their ids, in order. Two statements
    whatever the number of rows, as `store`."""
    stmt = (insert_ignore(session, Notification.__table__).from_select(ALERT_COLUMNS, rows)
            .returning(Notification.__table__.c.id))
    ids = sorted(session.scalars(stmt))
    if ids:
        deliver(session, ids[0], ids[-1])
    return ids


def recipient_conditions(today) -> list:
    """Who of the accounts linked to a wallet's unit (through occupancies) is told: active
    residents whose occupancy covers `today`."""
    return [User.role == "resident", User.active.is_(True), Occupancy.start_date <= today,
            or_(Occupancy.end_date.is_(None), Occupancy.end_date >= today)]


def recipients_query(today):
    """Resident accounts linked to a wallet's unit today: (wallet_id, user_id) pairs."""
    return (
        select(Wallet.id.label("wallet_id"), User.id.label("user_id"))
        .join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
        .join(User, User.person_id == Occupancy.person_id)
        .where(*recipient_conditions(today))
    )


def notification_recipients():
    """notifications → wallets → occupancies → users, joined in that order, for statements
    over a range of notification ids: the range drives them on every database (one new
    notification looks up its few recipients by index, never scans the users)."""
    return joined_in_order(Notification.__table__,
                           (Wallet.__table__, Wallet.id == Notification.wallet_id),
                           (Occupancy.__table__, Occupancy.unit_id == Wallet.unit_id),
                           (User.__table__, User.person_id == Occupancy.person_id))


def deliver(session, first_id: int, last_id: int, *, now: datetime | None = None,
            operators: bool = False) -> None:
    """Create the deliveries of notifications first_id..last_id, set-based: in-app (made
    `sent`: stored, and pushed once the caller commits) and, in the same transaction, email
    and SMS by the recipients' preferences and addresses (services/channels/rows.py), which
    the deliveries queue then sends, and their notification.created webhook messages
    (services/webhooks).

    The recipients are the residents of each notification's wallet, or with `operators` (the
    operators' types, OPERATOR_TYPES) the operators: no in-app rows for them (staff see
    every notification and keep no read state), email and SMS by their choices and addresses
    (the digest by email, DESIGN).

    Re-running is harmless: the (notification, user, channel) unique constraint skips
    deliveries that exist, so another writer's notifications in the range are also safe. The
    same constraint skips a pair that two occupancies would yield twice, so no DISTINCT
    (and no temporary B-tree to sort a scan chunk's rows) is needed.
    """
    now = now or utcnow()
    params = {"first_id": first_id, "last_id": last_id, "today": now.date(), "now": now}
    for stmt in _delivery_statements(session, single=first_id == last_id, operators=operators):
        session.execute(stmt, params)
    webhooks.notifications_created(session, first_id, last_id, now)


#: deliver's two INSERT … SELECTs by (database kind, one id or a range), built once: built
#: afresh for every notification they cost more Python than the database takes to run them.
_STATEMENTS: dict[tuple[str, bool, bool], tuple] = {}


def _delivery_statements(session, *, single: bool, operators: bool = False) -> tuple:
    """The in-app and the email/SMS deliveries' INSERT … SELECTs of the notifications with ids
    :first_id..:last_id, their recipients as of :today, stamped :now; for the `operators`'
    types the email/SMS one alone, to every active operator.

    For a `single` notification the id is matched by equality: SQLite's planner then knows
    one row drives the statement (for a range it cannot tell one row from thousands, and
    prepares for thousands: Bloom filters built by scanning occupancies and users)."""
    from ..channels.rows import outside_insert  # channels reads notification types

    key = (session.get_bind().dialect.name, single, operators)
    if key not in _STATEMENTS:
        stamp = bindparam("now", type_=UTCDateTime())
        first, last = bindparam("first_id", type_=Integer), bindparam("last_id", type_=Integer)
        in_range = Notification.id == first if single else Notification.id.between(first, last)
        if operators:
            staff = joined_in_order(Notification.__table__, (User.__table__, true()))
            conditions = [in_range, User.role == "operator", User.active.is_(True)]
            _STATEMENTS[key] = (outside_insert(session, staff, conditions, stamp),)
            return _STATEMENTS[key]
        recipients = notification_recipients()
        conditions = [in_range, *recipient_conditions(bindparam("today", type_=Date))]
        source = (select(Notification.id, User.id, literal(IN_APP), stamp, stamp)
                  .select_from(recipients).where(*conditions))
        in_app = insert_ignore(session, NotificationDelivery.__table__).from_select(
            ["notification_id", "user_id", "channel", "created_at", "sent_at"], source)
        _STATEMENTS[key] = (in_app, outside_insert(session, recipients, conditions, stamp))
    return _STATEMENTS[key]


# Built once (it runs for every notification published): the ids are bound per call.
RECIPIENT_IDS = (select(NotificationDelivery.notification_id, NotificationDelivery.user_id)
                 .where(NotificationDelivery.notification_id.in_(
                     bindparam("notification_ids", expanding=True)),
                     NotificationDelivery.channel == IN_APP))


def recipient_ids(session, notification_ids: list[int]) -> dict[int, list[int]]:
    """For each notification id, the users it was delivered to in-app."""
    result: dict[int, list[int]] = {i: [] for i in notification_ids}
    if not notification_ids:
        return result
    rows = session.execute(RECIPIENT_IDS, {"notification_ids": list(notification_ids)})
    for nid, uid in rows:
        result[nid].append(uid)
    return result


def resolve_credit_alerts(session, wallet_id: int, now: datetime,
                          kinds: tuple[str, ...] = ("low_credit", "critical_credit")
                          ) -> list[int]:
    """Mark the wallet's open alerts of `kinds` (low/critical credit) resolved; their ids."""
    open_alert = and_(Notification.wallet_id == wallet_id, Notification.resolved_at.is_(None),
                      Notification.type.in_(kinds))
    ids = list(session.scalars(select(Notification.id).where(open_alert)))
    if ids:
        session.execute(update(Notification).where(Notification.id.in_(ids))
                        .values(resolved_at=now))
    return ids
