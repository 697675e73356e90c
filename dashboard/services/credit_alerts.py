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

from sqlalchemy import and_, func, or_, select, update

from ..models import Estate, Unit, Wallet
from . import messages, notifications
from .sqlfuncs import add_hours
from .wallet_state import days_left, spend_30d_sql, state_sql

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


def refresh_states(session, where, now: datetime) -> int:
    """Recompute the stored state of the wallets matching `where`; return how many changed."""
    expr = state_sql(now)
    w = Wallet.__table__.c
    result = session.execute(update(Wallet.__table__).where(where, w.state != expr)
                             .values(state=expr, updated_at=now))
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
    result.scanned = session.scalar(select(func.count()).select_from(Wallet).where(where)) or 0
    result.eligible = session.scalar(select(func.count()).select_from(Wallet)
                                     .where(in_state)) or 0
    if not result.eligible:
        return result
    session.execute(update(Wallet.__table__).where(in_state, window_open)
                    .values({seq_col: w[seq_col] + 1, at_col: now}))
    claimed = session.execute(
        select(Wallet.id, getattr(Wallet, seq_col), Wallet.balance, Wallet.low_balance_threshold,
               Wallet.alert_mode, Unit.number, Estate.name,
               spend_30d_sql(now).label("spend_30d"))
        .join(Unit, Unit.id == Wallet.unit_id).join(Estate, Estate.id == Unit.estate_id)
        .where(in_state, getattr(Wallet, at_col) == now)
    ).all()
    rows = [_row(kind, c, now, task_run_id) for c in claimed]
    result.notification_ids = notifications.store(session, rows)
    # Count what was stored, not what was selected: a repeat at the same `now` re-reads
    # wallets an earlier pass claimed, and their notifications already exist.
    result.notified = len(result.notification_ids)
    return result


def _row(kind: str, claimed, now: datetime, task_run_id: int | None) -> dict:
    """The notification for one claimed wallet."""
    wallet_id, seq, balance, threshold, mode, unit_number, estate, spend = claimed
    spend = spend or Decimal(0)
    unit = f"{unit_number}, {estate}"
    data = {"wallet_id": wallet_id, "balance": f"{balance:.2f}", "threshold": f"{threshold:.2f}",
            "task_run_id": task_run_id}
    if kind == "critical_credit":
        title, message = messages.critical_credit(unit, balance, threshold)
    else:
        left = days_left(balance, spend) if mode == "days" else None
        if left is not None:
            data["days_left"] = str(left)
        title, message = messages.low_credit(unit, balance, threshold, left)
    return notifications.notification_row(
        kind, title, message, dedup_key=f"{kind}:{wallet_id}:{seq}", now=now,
        wallet_id=wallet_id, task_run_id=task_run_id, data=data)


def check_wallets(session, where, now: datetime, *, task_run_id: int | None = None
                  ) -> dict[str, AlertPass]:
    """Refresh state and claim both kinds of alert for the matching wallets.

    Used after a transaction (for one wallet): entering `critical` alerts at once even if a
    `low_credit` went out minutes ago, because each kind has its own window.
    """
    refresh_states(session, where, now)
    return {kind: alert_pass(session, kind, where, now, task_run_id=task_run_id)
            for kind in KINDS}
