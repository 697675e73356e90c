"""The run-out forecast in SQL, for the scans: the same figures as forecast.runout, set-based.

Seconds of credit are integer arithmetic on cents, as in Python. Friendly hours are read from
calendar_spans, which Python fills from the estates' settings (forecast.calendar.spans): SQLite
has no time zones and no holiday calendar, and one implementation of those rules is easier
to trust than two. Each estate keeps spans from two days back to CALENDAR_DAYS ahead, made
again when they reach less than QUOTE_DAYS ahead (every two weeks) or when its friendly hours
change, so any run-out an alert quotes finds its span with one index seek: the first span of
its estate ending after it (the primary key, estate_id then ends_at).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)

from ...db import write_transaction
from ...models import CalendarSpan, Estate, Transaction, Wallet
from ...models.types import UTCDateTime, epoch
from ..sqlfuncs import add_hours, clock_text, insert_ignore
from ..wallets.state import SPEND_WINDOW_DAYS, spend_since
from . import words
from .calendar import FriendlyHours, spans
from .runout import MAX_SECONDS, QUOTE_DAYS, WINDOW_SECONDS

CALENDAR_DAYS = QUOTE_DAYS + 16
CALENDAR_BEHIND = timedelta(days=2)
S = CalendarSpan.__table__


def needed_until(now: datetime) -> datetime:
    """How far ahead every estate's spans must reach for the alerts made at `now`."""
    return now + timedelta(days=QUOTE_DAYS + 2)


def ensure_calendars(session, now: datetime, default_zone: str) -> int:
    """Make the spans of every estate whose calendar is missing or reaches too short a way
    ahead; returns how many estates got new spans.

    One UPDATE that changes nothing when all is well (every chunk of a credit scan calls
    this). It claims the stale estates (sets calendar_until) and returns their settings, so
    two writers at once (chunks in parallel on PostgreSQL) make each estate's spans once: the
    second waits on the first's row locks, then finds nothing stale.
    """
    until = (now + timedelta(days=CALENDAR_DAYS)).replace(microsecond=0)
    e = Estate.__table__.c
    claimed = session.execute(
        update(Estate.__table__)
        .where(or_(e.calendar_until.is_(None), e.calendar_until < needed_until(now)))
        .values(calendar_until=until)
        .returning(e.id, e.timezone, e.friendly_hours, e.friendly_start, e.friendly_end,
                   e.friendly_weekends, e.friendly_holidays)).all()
    if not claimed:
        return 0
    rows = []
    for estate_id, zone, on, start, end, weekends, holidays in claimed:
        hours = FriendlyHours(zone or default_zone, on, start, end, weekends, holidays)
        rows += [span_row(estate_id, span, hours.tz)
                 for span in spans(hours, now - CALENDAR_BEHIND, until)]
    # Spans an earlier calendar of the same settings made are the same rows (or, for its
    # last span, cut short at its end, a prefix of the new one saying the same): kept.
    session.execute(insert_ignore(session, S), rows)
    return len(claimed)


def span_row(estate_id: int, span, tz) -> dict:
    """A calendar_spans row of a Span, with its words (forecast/words.py)."""
    supply_near, supply_far = words.both(span.supply_until, tz) if span.supply_until else (None,
                                                                                           None)
    return {"estate_id": estate_id, "starts_at": span.starts_at, "ends_at": span.ends_at,
            "utc_offset": span.utc_offset, "day_near": words.day_words(span.day, near=True),
            "day_far": words.day_words(span.day, near=False), "supply_until": span.supply_until,
            "supply_near": supply_near, "supply_far": supply_far}


def invalidate_calendar(session, estate_id: int) -> None:
    """Drop an estate's spans (its friendly hours or zone changed): the next
    ensure_calendars makes them again from the new settings."""
    session.execute(delete(S).where(S.c.estate_id == estate_id))
    session.execute(update(Estate).where(Estate.id == estate_id).values(calendar_until=None))


def prune_calendars(session, now: datetime) -> int:
    """Delete spans that ended more than CALENDAR_BEHIND ago (daily retention)."""
    cutoff = (now - CALENDAR_BEHIND).replace(microsecond=0)
    return session.execute(delete(S).where(S.c.ends_at < cutoff)).rowcount or 0


def now_seconds(now: datetime):
    """`now` as whole seconds since 1970, an SQL integer."""
    return literal(epoch(now), BigInteger())


def runs_out_sql(now: datetime):
    """On wallets: the second a wallet's credit runs out, where an alert quotes it (now +
    quoted_seconds), else NULL.

    A wallet's stored credit_seconds (forecast/wallets.py, after each transaction) is the same
    figure while its forecast has not expired: since it was made neither the balance nor the
    30-day spend changed (a transaction would have made it again, and no purchase has left
    the window). So only a wallet whose forecast expired, or was never made, sums its
    purchases here (a correlated sum made once and read by every term of the CASE); the
    others read one column, which spares an alert chunk a sum per wallet.
    """
    w, t = Wallet.__table__.c, Transaction.__table__.c
    stored = w.credit_seconds
    fresh = case((and_(stored > 0, stored < QUOTE_DAYS * 86400), now_seconds(now) + stored),
                 else_=None)
    # A cast: PostgreSQL's sum of bigint is numeric, whose division is not the integer
    # division of forecast.credit_seconds.
    spend = cast(func.coalesce(func.sum(t.amount), 0), BigInteger)
    summed = (select(now_seconds(now) + quoted_seconds(type_coerce(w.balance, BigInteger), spend))
              .where(t.wallet_id == w.id, t.type == "purchase", t.created_at >= spend_since(now))
              .correlate(Wallet.__table__).scalar_subquery())
    return case((w.forecast_expires_at > now, fresh), else_=summed)


def quoted_seconds(balance_cents, spend_cents):
    """forecast.credit_seconds where an alert quotes it (runout.quoted), else NULL: some
    credit left and less than QUOTE_DAYS of it. The caller gives a positive-spend guard
    through `spend_cents > 0` being part of the condition here."""
    seconds = balance_cents * WINDOW_SECONDS // spend_cents
    within = and_(spend_cents > 0, balance_cents > 0,
                  balance_cents * SPEND_WINDOW_DAYS < spend_cents * QUOTE_DAYS,
                  balance_cents * WINDOW_SECONDS >= spend_cents)
    return case((within, seconds), else_=None)


@dataclass
class SpanAt:
    """The span holding an instant, for a LEFT JOIN: the aliased table and the condition."""

    table: object
    on: object

    @property
    def found(self):
        """True where a span holds the instant (every instant the calendar covers)."""
        return self.table.c.utc_offset.is_not(None)

    @property
    def supply_until(self):
        """End of the friendly run (seconds), NULL outside friendly hours."""
        return type_coerce(self.table.c.supply_until, BigInteger)


def span_at(estate_id, at, name: str = "span") -> SpanAt:
    """The span of estate `estate_id` holding instant `at` (seconds), for a LEFT JOIN: one
    seek for the first span ending after it, one to read it."""
    span = S.alias(name)
    first_end = (select(S.c.ends_at).where(S.c.estate_id == estate_id,
                                           type_coerce(S.c.ends_at, BigInteger) > at)
                 .order_by(S.c.ends_at).limit(1).scalar_subquery())
    return SpanAt(span, and_(span.c.estate_id == estate_id, span.c.ends_at == first_end))


def forecast_texts(at, span: SpanAt, now_s) -> dict:
    """The words an alert quotes about instant `at` (seconds) inside `span`, as
    forecast.when_text says them: the span's day (near or far by distance) and the clock
    (NULL where no span holds it); the end of the friendly run holding it, kept in words by
    the span (NULL outside friendly hours); and `friendly`, which of the two it is."""
    s = span.table.c
    near = at - now_s < words.NEAR // timedelta(seconds=1)
    supply_near = span.supply_until - now_s < words.NEAR // timedelta(seconds=1)
    return {"runs_out_local": case((near, s.day_near), else_=s.day_far) + " "
            + clock_text(at + 60 * s.utc_offset),
            "supply_local": case((supply_near, s.supply_near), else_=s.supply_far),
            "friendly": span.supply_until.is_not(None)}


# -- the stored sort key ------------------------------------------------------------------------

def refresh_credit_seconds(session, now: datetime, limit: int = 20_000) -> int:
    """Recompute credit_seconds and forecast_expires_at of up to `limit` wallets whose
    forecast expired (a purchase left the 30-day window since it was made) or was never made
    (a wallet from before migration 0010, or written without a transaction), found through
    ix_wallets_forecast_expires; the number made.

    The 30-day figures are summed once per wallet (a materialized CTE), then one UPDATE …
    FROM writes them: the same figures as forecast.credit_seconds after a transaction.
    """
    w, t = Wallet.__table__, Transaction.__table__
    window = and_(t.c.wallet_id == w.c.id, t.c.type == "purchase",
                  t.c.created_at >= spend_since(now))
    due = (select(w.c.id).where(or_(w.c.forecast_expires_at.is_(None),
                                    w.c.forecast_expires_at <= now)).limit(limit))
    stale = (select(w.c.id.label("id"), type_coerce(w.c.balance, BigInteger).label("balance"),
                    # A cast: PostgreSQL's sum of bigint is numeric, whose division is not
                    # the integer division of forecast.credit_seconds.
                    select(cast(func.coalesce(func.sum(t.c.amount), 0), BigInteger))
                    .where(window).correlate(w).scalar_subquery().label("spend"),
                    select(func.min(t.c.created_at)).where(window).correlate(w)
                    .scalar_subquery().label("first_at"))
             .where(w.c.id.in_(due))
             .cte("stale_forecasts").prefix_with("MATERIALIZED"))
    c = stale.c
    # RETURNING counts: SQLite's driver reports no rowcount for a statement opening WITH.
    return len(session.scalars(
        update(w).where(w.c.id == c.id)
        .values(credit_seconds=credit_seconds_sql(c.balance, c.spend),
                forecast_expires_at=add_hours(func.coalesce(c.first_at,
                                                            literal(now, UTCDateTime())),
                                              24 * SPEND_WINDOW_DAYS))
        .returning(w.c.id)).all())


def refresh_forecasts(session, now: datetime, *, batch: int = 20_000, batches: int = 50) -> int:
    """refresh_credit_seconds in batches, each its own write transaction (short locks), until
    none is due or `batches` ran; how many were made (beat's refresh_forecasts)."""
    made = 0
    for _ in range(batches):
        with write_transaction(session):
            done = refresh_credit_seconds(session, now, limit=batch)
        made += done
        if done < batch:
            break
    return made


def credit_seconds_sql(balance_cents, spend_cents):
    """forecast.credit_seconds in SQL (the same clamps, the same integer division)."""
    days = MAX_SECONDS // 86400
    return case((spend_cents <= 0, None),
                (balance_cents <= 0, literal(0, Integer())),
                (balance_cents * SPEND_WINDOW_DAYS >= spend_cents * days,
                 literal(MAX_SECONDS, BigInteger())),
                else_=balance_cents * WINDOW_SECONDS // spend_cents)
