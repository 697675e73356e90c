"""Low and critical credit alerts, set-based: refresh states, claim alert windows, notify.

One pass over a range of wallet ids runs a fixed number of statements whatever the range
holds. The claim is a conditional UPDATE: it bumps the wallet's alert sequence only where the
wallet is in the right state and its frequency window has passed, so two scans racing over the
same wallets (or a retry after a crash) can claim each alert once. The notification's
dedup_key is built from that sequence and is unique in the table, which stops a duplicate even
if the claim were somehow repeated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)

from ...models import Estate, Unit, Wallet
from ...models.types import UTCDateTime
from .. import notifications, webhooks
from ..forecast import sql as forecast_sql
from ..forecast.calendar import DEFAULT_ZONE
from ..notifications import messages
from ..notifications.messages import PRIORITIES
from ..sqlfuncs import (
    add_hours,
    format_sql,
    json_object,
    money_text,
    rand_text,
    text_sql,
)
from ..wallets.state import compute_state, days_left_tenths_sql, spend_30d, spend_30d_sql, state_sql
from . import depleted

# A daily scan may start a few seconds earlier than the one before it; without this slack a
# 24-hour window would make it skip every other day.
WINDOW_SLACK = timedelta(minutes=5)

KINDS = {
    # kind: (state it alerts on, sequence column, time column)
    "low_credit": ("low", "low_alert_seq", "low_alerted_at"),
    "critical_credit": ("critical", "critical_alert_seq", "critical_alerted_at"),
}


@dataclass
class AlertPass:
    """What one pass over a range of wallets did."""

    scanned: int = 0
    eligible: int = 0
    notified: int = 0
    notification_ids: list[int] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Wallets in the alert state whose frequency window had not passed."""
        return self.eligible - self.notified

    def add(self, other: AlertPass) -> None:
        """Count another kind's pass over the same wallets into this one."""
        self.eligible += other.eligible
        self.notified += other.notified
        self.notification_ids = sorted(self.notification_ids + other.notification_ids)


def refresh_states(session, where, now: datetime) -> int:
    """Recompute the stored state of the wallets matching `where`; return how many changed."""
    expr = state_sql(now)
    w = Wallet.__table__.c
    webhooks.wallet_states_changing(session, where, expr, now)
    result = session.execute(update(Wallet.__table__).where(where, w.state != expr)
                             .values(state=expr, state_since=now, updated_at=now))
    return result.rowcount or 0


def alert_pass(session, kind: str, where, now: datetime, *, task_run_id: int | None = None
               ) -> AlertPass:
    """Claim and store `kind` alerts for the wallets matching `where` (a condition on wallets).

    The caller refreshes states first and commits afterwards; nothing is published here.
    """
    state, seq_col, at_col = KINDS[kind]
    w = Wallet.__table__.c
    in_state = and_(where, w.state == state)
    window_open = or_(w[at_col].is_(None),
                      add_hours(w[at_col], w.alert_frequency_hours) <= now + WINDOW_SLACK)
    result = AlertPass()
    # Both counts in one pass over the range (the range is read for `scanned` anyway).
    scanned, eligible = session.execute(
        select(func.count(), func.count(case((w.state == state, 1))))
        .select_from(Wallet).where(where)).one()
    result.scanned, result.eligible = scanned or 0, eligible or 0
    if not result.eligible:
        return result
    session.execute(update(Wallet.__table__).where(in_state, window_open)
                    .values({seq_col: w[seq_col] + 1, at_col: now}))
    result.notification_ids = insert_alerts(session, kind, and_(in_state, w[at_col] == now), now,
                                            task_run_id=task_run_id)
    # Count what was stored, not what was claimed: a repeat at the same `now` re-reads
    # wallets an earlier pass claimed, and their notifications already exist.
    result.notified = len(result.notification_ids)
    return result


def insert_alerts(session, kind: str, claimed, now: datetime, *, task_run_id: int | None
                  ) -> list[int]:
    """Write the `kind` alert of every wallet matching `claimed`, and its deliveries.

    One INSERT … SELECT builds every row in the database, message text included (the
    templates of `messages`, rendered by `format_sql`), so no Python runs per wallet. ON
    CONFLICT DO NOTHING skips a dedup_key that exists; RETURNING gives the ids this call made
    and no others, even when another writer races on the same keys. Returns them in id order.
    """
    _, seq_col, _ = KINDS[kind]
    figures = _claimed_figures(kind, claimed, now, seq_col)
    f, span = figures.c, forecast_sql.span_at(figures.c.estate_id, figures.c.runs_out)
    texts = forecast_sql.forecast_texts(f.runs_out, span, forecast_sql.now_seconds(now))
    sentence = case((texts["friendly"], format_sql(messages.FORECAST_FRIENDLY,
                                                   runs_out=texts["runs_out_local"],
                                                   supply_until=texts["supply_local"])),
                    (span.found, format_sql(messages.FORECAST, runs_out=texts["runs_out_local"])),
                    else_=text_sql(""))
    balance, threshold = rand_text(f.balance), rand_text(f.threshold)
    data = dict(wallet_id=f.wallet_id, balance=money_text(f.balance),
                threshold=money_text(f.threshold))
    # The times the message quotes, as seconds since 1970 (NULL where it quotes none;
    # supply_until only where friendly hours hold the supply past the run-out): integers
    # cost a chunk nothing to write, and the API shows them as ISO times
    # (serialize.notification_json), email and SMS in the estate's words.
    quoted = {"runs_out_at": case((span.found, f.runs_out), else_=None),
              "supply_until": span.supply_until,
              "task_run_id": cast(literal(task_run_id), Integer)}
    if kind == "critical_credit":
        title = messages.CRITICAL_CREDIT_TITLE
        message = format_sql(messages.CRITICAL_CREDIT, unit=f.unit, balance=balance,
                             forecast=sentence)
        data_sql = _json({**data, **quoted})
    else:
        title = messages.LOW_CREDIT_TITLE
        days = cast(f.tenths // 10, String) + "." + cast(f.tenths % 10, String)
        with_days = f.tenths.is_not(None)
        message = case(
            (with_days, format_sql(messages.LOW_CREDIT_DAYS, unit=f.unit, balance=balance,
                                   days_left=days, forecast=sentence)),
            else_=format_sql(messages.LOW_CREDIT, unit=f.unit, balance=balance,
                             threshold=threshold, forecast=sentence))
        data_sql = case((with_days, _json({**data, "days_left": days, **quoted})),
                        else_=_json({**data, **quoted}))
    rows = (select(text_sql(kind), text_sql(title), message, text_sql(PRIORITIES[kind]),
                   f.wallet_id, data_sql, f.dedup_key, literal(now, UTCDateTime()),
                   quoted["task_run_id"])
            .select_from(figures.outerjoin(span.table, span.on)).order_by(f.wallet_id))
    return notifications.store_selected(session, rows)


def _claimed_figures(kind: str, claimed, now: datetime, seq_col: str):
    """The claimed wallets with what their message quotes, as a subquery.

    A materialized CTE makes each costly value once per wallet, and the words, the calendar
    seek and the JSON then read it as a column: the run-out second (forecast/sql.py
    runs_out_sql: the stored credit_seconds, or where that expired a correlated sum over the
    wallet's purchases), and in days mode the 30-day spend (the same sum, for the few wallets
    in days mode only). Money is in cents; `tenths` (days left × 10) is NULL unless the
    wallet is in days mode with purchases; `runs_out` is NULL when there is nothing to quote
    (no purchases, no credit, or QUOTE_DAYS of it or more).
    """
    w = Wallet.__table__.c
    u, e = Unit.__table__.c, Estate.__table__.c
    # A cast, not a type: PostgreSQL's sum() of bigint is numeric, and numeric division
    # would not be the integer division days_left_tenths_sql relies on.
    spend = cast(spend_30d_sql(now), BigInteger)
    inner = (select(w.id.label("wallet_id"), type_coerce(w.balance, BigInteger).label("balance"),
                    type_coerce(w.low_balance_threshold, BigInteger).label("threshold"),
                    (u.number + ", " + e.name).label("unit"),
                    (text_sql(f"{kind}:") + cast(w.id, String) + ":" + cast(w[seq_col], String)
                     ).label("dedup_key"), u.estate_id,
                    case((w.alert_mode == "days", spend), else_=None).label("spend"),
                    forecast_sql.runs_out_sql(now).label("runs_out"))
             .select_from(Wallet.__table__.join(Unit.__table__, u.id == w.unit_id)
                          .join(Estate.__table__, e.id == u.estate_id))
             .where(claimed).cte(f"claimed_{kind}").prefix_with("MATERIALIZED"))
    c = inner.c
    tenths = case((c.spend > 0, days_left_tenths_sql(c.balance, c.spend)), else_=None)
    return (select(c.wallet_id, c.balance, c.threshold, c.unit, c.dedup_key, c.estate_id,
                   c.runs_out, tenths.label("tenths")).subquery(f"figures_{kind}"))


def _json(pairs: dict) -> json_object:
    """A JSON object of SQL values, keys in the given order."""
    return json_object(*(part for item in pairs.items() for part in item))


def credit_pass(session, kind: str, first: int, last: int, *, now: datetime, tz: str,
                task_run_id: int | None = None) -> AlertPass:
    """One chunk of a low or critical credit scan: the wallets with ids first..last.

    `tz` is the zone of estates without their own (their friendly hours). The critical scan
    also tells wallets at zero not yet told (credit_depleted).
    """
    where = Wallet.__table__.c.id.between(first, last)
    forecast_sql.ensure_calendars(session, now, tz)
    refresh_states(session, where, now)
    found = alert_pass(session, kind, where, now, task_run_id=task_run_id)
    if kind == "critical_credit":
        found.add(_depleted(session, where, now, task_run_id))
    return found


def check_wallets(session, where, now: datetime, *, task_run_id: int | None = None,
                  tz: str = DEFAULT_ZONE) -> dict[str, AlertPass]:
    """Refresh state and claim both kinds of alert, and credit_depleted, for the matching
    wallets.

    After a transaction (through `check_wallet`), entering `critical` alerts at once even if
    a `low_credit` went out minutes ago, because each kind has its own window.
    """
    forecast_sql.ensure_calendars(session, now, tz)
    refresh_states(session, where, now)
    passes = {kind: alert_pass(session, kind, where, now, task_run_id=task_run_id)
              for kind in KINDS}
    passes[depleted.KIND] = _depleted(session, where, now, task_run_id)
    return passes


def _depleted(session, where, now: datetime, task_run_id: int | None) -> AlertPass:
    """depleted.depleted_pass, counted as an AlertPass."""
    found = depleted.depleted_pass(session, where, now, task_run_id=task_run_id)
    return AlertPass(eligible=found.eligible, notified=len(found.notification_ids),
                     notification_ids=found.notification_ids)


def check_wallet(session, wallet_id: int, now: datetime, *, tz: str = DEFAULT_ZONE
                 ) -> dict[str, AlertPass]:
    """`check_wallets` for one wallet, as check_wallet_after_transaction runs it.

    Most transactions leave a wallet `ok` (a top-up, a purchase well above the threshold).
    The state is then decided in Python from one row and, in days mode, one sum; the
    set-based statements (whose construction costs more CPU than the one row they touch) run
    only for a wallet that is low or critical (a wallet at zero is critical unless its alerts
    are off, so credit_depleted is claimed there). compute_state and
    state_sql are property-tested to agree.
    """
    w = Wallet.__table__.c
    row = session.execute(select(w.balance, w.low_balance_threshold, w.alert_mode,
                                 w.low_balance_days, w.state).where(w.id == wallet_id)).first()
    if row is None:
        return {kind: AlertPass() for kind in (*KINDS, depleted.KIND)}
    balance, threshold, mode, low_days, stored = row
    spend = spend_30d(session, wallet_id, now) if mode == "days" else Decimal(0)
    if compute_state(balance, threshold, mode, low_days, spend) != "ok":
        return check_wallets(session, w.id == wallet_id, now, tz=tz)
    if stored != "ok":
        webhooks.wallet_state_changed(session, wallet_id, stored, "ok", now)
        session.execute(update(Wallet.__table__).where(w.id == wallet_id)
                        .values(state="ok", state_since=now, updated_at=now))
    return {kind: AlertPass(scanned=1) for kind in (*KINDS, depleted.KIND)}
