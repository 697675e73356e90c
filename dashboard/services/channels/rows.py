"""Email and SMS deliveries, made with their notifications: one INSERT … SELECT per range.

`notifications.deliver(first_id, last_id)` runs `outside_insert` in the transaction that
stored the notifications, so no notification exists without its deliveries. For every
recipient and outside channel the notification's type goes by (the resident's choice, else
the default), one row: `pending` with the address, or `suppressed` ("No email address") when
the resident has none. Everything is decided in SQL from the preferences and the people's
addresses: no Python runs per recipient, whatever the size of the range.
"""
from __future__ import annotations

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
from ..sqlfuncs import insert_ignore, joined_in_order, text_sql
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


def outside_insert(session, recipients, conditions: list, now):
    """The INSERT … SELECT that makes the email and SMS deliveries of the notifications the
    in-app ones are made for.

    `recipients` and `conditions` are the in-app deliveries' own (notifications joined to
    their recipients' users in order, and the notification range with who is told), `now`
    the SQL value of their creation time: notifications.store builds the statement once,
    with bound parameters, and runs it in the transaction that stores the notifications.
    The person of each user is joined here for the address. Re-running is harmless: the
    (notification, user, channel) unique constraint skips rows that exist.
    """
    ch = _channels()
    n, cp = Notification.__table__.c, ChannelPreference.__table__
    chosen = case((ch.c.channel == "email", cp.c.email), else_=cp.c.sms)
    wanted = case((cp.c.user_id.is_(None), _default_on(n.type, ch.c.channel)), else_=chosen)
    address = case((ch.c.channel == "email", Person.email), else_=Person.phone)
    # In the written order on SQLite as well: the notification range, its recipients, their
    # person, the two channels, then the preference looked up by its key.
    source = joined_in_order(recipients, (Person.__table__, Person.id == User.person_id),
                             (ch, true()))
    inner = (
        select(n.id.label("notification_id"), User.id.label("user_id"), ch.c.channel,
               address.label("address"))
        .select_from(source)
        .outerjoin(cp, and_(cp.c.user_id == User.id, cp.c.type == n.type))
        .where(*conditions, wanted == literal(True))
    ).subquery("wanted")
    no_address = inner.c.address.is_(None)
    source = select(
        inner.c.notification_id, inner.c.user_id, inner.c.channel, inner.c.address,
        case((no_address, "suppressed"), else_="pending").label("status"),
        case(*((and_(no_address, inner.c.channel == c), text) for c, text in NO_ADDRESS.items()),
             else_=cast(literal(None), String)).label("error"),
        cast(literal(0), Integer), now
    ).where(true())  # SQLite: a WHERE keeps ON CONFLICT from reading as a join's ON
    return insert_ignore(session, NotificationDelivery.__table__).from_select(
        ["notification_id", "user_id", "channel", "address", "status", "error", "attempts",
         "created_at"], source)
