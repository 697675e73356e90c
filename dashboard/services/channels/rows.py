"""Email and SMS deliveries, made with their notifications: one INSERT … SELECT per range.

`notifications.deliver(first_id, last_id)` calls `insert_outside` in the transaction that
stored the notifications, so no notification exists without its deliveries. For every
recipient and outside channel the notification's type goes by (the resident's choice, else
the default), one row: `pending` with the address, or `suppressed` ("No email address") when
the resident has none. Everything is decided in SQL from the preferences and the people's
addresses: no Python runs per recipient, whatever the size of the range.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    literal,
    or_,
    select,
    true,
    union_all,
)

from ...models import ChannelPreference, Notification, NotificationDelivery, Person, User
from ...models.types import UTCDateTime
from ..sqlfuncs import insert_ignore, text_sql
from .preferences import DEFAULTS

NO_ADDRESS = {"email": "No email address", "sms": "No mobile number"}


def _channels():
    """A two-row table of the outside channels: (email), (sms)."""
    return union_all(select(text_sql("email").label("channel")),
                     select(text_sql("sms").label("channel"))).subquery("ch")


def _default_on(kind_col, channel_col):
    """The estate default of (type, channel) as an SQL condition."""
    terms = []
    for channel in ("email", "sms"):
        kinds = [k for k, chosen in DEFAULTS.items() if channel in chosen]
        if kinds:
            terms.append(and_(channel_col == channel, kind_col.in_(kinds)))
    return or_(*terms) if terms else false()


def insert_outside(session, recipients, first_id: int, last_id: int, now: datetime, *,
                   by_wallet: bool = True) -> None:
    """Make the email and SMS deliveries of notifications first_id..last_id.

    `recipients` is the select of (wallet_id, user_id) pairs the in-app deliveries use
    (notifications.recipients_query), with the person of each joined here for the address;
    with `by_wallet` False it is a select of user_id alone, and every notification goes to
    every one of them (the operators' types). Re-running is harmless: the (notification,
    user, channel) unique constraint skips rows that exist.
    """
    people = (recipients.add_columns(Person.email.label("email"), Person.phone.label("phone"))
              .join(Person, Person.id == User.person_id).subquery("r"))
    ch = _channels()
    n, cp = Notification.__table__.c, ChannelPreference.__table__
    chosen = case((ch.c.channel == "email", cp.c.email), else_=cp.c.sms)
    wanted = case((cp.c.user_id.is_(None), _default_on(n.type, ch.c.channel)), else_=chosen)
    address = case((ch.c.channel == "email", people.c.email), else_=people.c.phone)
    inner = (
        select(n.id.label("notification_id"), people.c.user_id, ch.c.channel,
               address.label("address"))
        .select_from(Notification.__table__)
        .join(people, people.c.wallet_id == n.wallet_id if by_wallet else true())
        .join(ch, true())
        .outerjoin(cp, and_(cp.c.user_id == people.c.user_id, cp.c.type == n.type))
        .where(n.id.between(first_id, last_id), wanted == literal(True))
    ).subquery("wanted")
    no_address = inner.c.address.is_(None)
    source = select(
        inner.c.notification_id, inner.c.user_id, inner.c.channel, inner.c.address,
        case((no_address, "suppressed"), else_="pending").label("status"),
        case(*((and_(no_address, inner.c.channel == c), text) for c, text in NO_ADDRESS.items()),
             else_=cast(literal(None), String)).label("error"),
        cast(literal(0), Integer), literal(now, UTCDateTime())
    ).where(true())  # SQLite: a WHERE keeps ON CONFLICT from reading as a join's ON
    stmt = insert_ignore(session, NotificationDelivery.__table__).from_select(
        ["notification_id", "user_id", "channel", "address", "status", "error", "attempts",
         "created_at"], source)
    session.execute(stmt)


def operators_query():
    """The operators (active accounts) an operators' notification may go to by email or
    SMS, as a select of user_id."""
    return select(User.id.label("user_id")).where(User.role == "operator",
                                                  User.active.is_(True))
