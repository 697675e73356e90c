"""credit_depleted: a wallet whose balance reached 0.00, told once per fall to zero.

After a transaction that leaves nothing (the after-transaction check) and in every critical
credit scan (a wallet not yet told: its check never ran, or it was seeded empty), set-based as
the credit alerts are. The claim is a conditional UPDATE that bumps the wallet's depleted_seq
where depleted_at is empty; a top-up clears depleted_at (payments.transactions), which re-arms
it. The key is the wallet and that sequence, unique in the table, so retries, racing scans and
two beats store each fall to zero once. Like every credit alert it respects a zero threshold
(alerts off for the wallet, DESIGN): such a wallet is never told.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, and_, case, cast, literal, select, type_coerce, update

from ...models import Estate, Unit, Wallet
from ...models.types import UTCDateTime
from .. import notifications
from ..forecast import sql as forecast_sql
from ..notifications import messages
from ..notifications.messages import PRIORITIES
from ..sqlfuncs import format_sql, json_object, money_text, text_sql

KIND = "credit_depleted"


@dataclass
class Depleted:
    """What one pass did: wallets claimed (newly at zero) and the notifications stored."""

    eligible: int = 0
    notification_ids: list[int] = field(default_factory=list)


def depleted_pass(session, where, now: datetime, *, task_run_id: int | None = None) -> Depleted:
    """Claim and store credit_depleted for the wallets matching `where` that are at zero and
    not yet told. Two statements when none is (the claim finds nothing), three otherwise."""
    w = Wallet.__table__.c
    empty = and_(where, w.balance <= 0, w.low_balance_threshold > 0)
    claimed = session.execute(update(Wallet.__table__).where(empty, w.depleted_at.is_(None))
                              .values(depleted_seq=w.depleted_seq + 1, depleted_at=now)).rowcount
    found = Depleted(eligible=claimed or 0)
    if found.eligible:
        found.notification_ids = insert_depleted(session, and_(empty, w.depleted_at == now), now,
                                                  task_run_id=task_run_id)
    return found


def insert_depleted(session, claimed, now: datetime, *, task_run_id: int | None) -> list[int]:
    """One INSERT … SELECT of the credit_depleted of every claimed wallet (text in SQL, the
    friendly hours holding its supply now from calendar_spans), then its deliveries."""
    w, u, e = Wallet.__table__.c, Unit.__table__.c, Estate.__table__.c
    inner = (select(w.id.label("wallet_id"), type_coerce(w.balance, BigInteger).label("balance"),
                    (u.number + ", " + e.name).label("unit"), u.estate_id,
                    (text_sql(f"{KIND}:") + cast(w.id, String) + ":" + cast(w.depleted_seq, String)
                     ).label("dedup_key"))
             .select_from(Wallet.__table__.join(Unit.__table__, u.id == w.unit_id)
                          .join(Estate.__table__, e.id == u.estate_id))
             .where(claimed).subquery())
    now_s = forecast_sql.now_seconds(now)
    span = forecast_sql.span_at(inner.c.estate_id, now_s)
    texts = forecast_sql.forecast_texts(now_s, span, now_s)
    supply = case((texts["friendly"], format_sql(messages.DEPLETED_FRIENDLY,
                                                 supply_until=texts["supply_local"])),
                  else_=text_sql(messages.DEPLETED_NOW))
    run_id = cast(literal(task_run_id), Integer)
    data_sql = _json({"wallet_id": inner.c.wallet_id, "balance": money_text(inner.c.balance),
                      "supply_until": span.supply_until, "task_run_id": run_id})
    rows = (select(text_sql(KIND), text_sql(messages.CREDIT_DEPLETED_TITLE),
                   format_sql(messages.CREDIT_DEPLETED, unit=inner.c.unit, supply=supply),
                   text_sql(PRIORITIES[KIND]), inner.c.wallet_id, data_sql, inner.c.dedup_key,
                   literal(now, UTCDateTime()), run_id)
            .select_from(inner.outerjoin(span.table, span.on)).order_by(inner.c.wallet_id))
    return notifications.store_selected(session, rows)


def _json(pairs: dict) -> json_object:
    """A JSON object of SQL values, keys in the given order."""
    return json_object(*(part for item in pairs.items() for part in item))
