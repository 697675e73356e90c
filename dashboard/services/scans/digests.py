"""The operators' morning digest: one notification per estate per local day (scan
send_operator_digests, daily 07:30), in-app for operators and by email to those with an
address.

Each figure is one grouped statement over the estates of the chunk (their wallets, silent
meters, high-usage alerts, and top-ups and purchases of the last 24 hours), whatever the
number of wallets; the few digests are then written by `notifications.store`. The key is the
estate and its local day, so retries, a second run and two beats make one digest a day.
"New since the last digest" counts wallets whose state changed since the estate's last
digest (estates.digest_at, moved only when a digest is made), or in the last 24 hours before
the first one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, update

from ...models import Estate, Meter, Notification, Transaction, Unit, Wallet
from .. import notifications
from ..forecast import words
from ..money import money_str
from ..notifications import messages
from ..wallets.silence import silent_meters

KIND = "operator_digest"
DAY = timedelta(hours=24)


@dataclass
class DigestPass:
    """What one pass over a range of estates did."""

    scanned: int = 0
    notification_ids: list[int] = field(default_factory=list)

    @property
    def notified(self) -> int:
        """Digests this pass stored."""
        return len(self.notification_ids)

    @property
    def skipped(self) -> int:
        """Estates whose digest of the day existed already."""
        return self.scanned - self.notified


def local_day(now: datetime, zone: str) -> str:
    """The estate's local date of `now`, the unit of a digest's de-duplication."""
    return now.astimezone(ZoneInfo(zone)).date().isoformat()


def figures(session, where, now: datetime) -> dict[int, dict]:
    """Every figure of the digest of each estate matching `where` (a condition on estates):
    {estate_id: {critical, critical_new, low, low_new, zero, silent_meters, high_usage,
    topups, topup_total, purchases, purchase_total}}."""
    ids = list(session.scalars(select(Estate.id).where(where).order_by(Estate.id)))
    out = {i: dict.fromkeys(("critical", "critical_new", "low", "low_new", "zero",
                             "silent_meters", "high_usage", "topups", "purchases"), 0)
           | {"topup_total": Decimal(0), "purchase_total": Decimal(0)} for i in ids}
    if not ids:
        return out
    since = func.coalesce(Estate.digest_at, now - DAY)
    w = Wallet

    def count(condition):
        return func.count(case((condition, 1)))

    wallets = (select(Unit.estate_id, count(w.state == "critical"),
                      count(and_(w.state == "critical", w.state_since > since)),
                      count(w.state == "low"), count(and_(w.state == "low", w.state_since > since)),
                      count(w.balance <= 0))
               .select_from(w).join(Unit, Unit.id == w.unit_id)
               .join(Estate, Estate.id == Unit.estate_id).where(where).group_by(Unit.estate_id))
    for estate_id, critical, critical_new, low, low_new, zero in session.execute(wallets):
        out[estate_id].update(critical=critical, critical_new=critical_new, low=low,
                              low_new=low_new, zero=zero)
    silent = (select(Unit.estate_id, func.count()).select_from(Meter)
              .join(Unit, Unit.id == Meter.unit_id)
              .join(Estate, Estate.id == Unit.estate_id)
              .where(where, silent_meters()).group_by(Unit.estate_id))
    for estate_id, n in session.execute(silent):
        out[estate_id]["silent_meters"] = n
    high = (select(Unit.estate_id, func.count()).select_from(Notification)
            .join(Meter, Meter.id == Notification.meter_id).join(Unit, Unit.id == Meter.unit_id)
            .join(Estate, Estate.id == Unit.estate_id)
            .where(where, Notification.type == "high_usage", Notification.created_at > now - DAY,
                   Notification.created_at <= now).group_by(Unit.estate_id))
    for estate_id, n in session.execute(high):
        out[estate_id]["high_usage"] = n
    money = (select(Unit.estate_id, Transaction.type, func.count(), func.sum(Transaction.amount))
             .select_from(Transaction).join(Wallet, Wallet.id == Transaction.wallet_id)
             .join(Unit, Unit.id == Wallet.unit_id)
             .join(Estate, Estate.id == Unit.estate_id)
             .where(where, Transaction.created_at > now - DAY, Transaction.created_at <= now)
             .group_by(Unit.estate_id, Transaction.type))
    for estate_id, kind, n, total in session.execute(money):
        prefix = "topup" if kind == "topup" else "purchase"
        out[estate_id][f"{prefix}s"] = n
        out[estate_id][f"{prefix}_total"] = Decimal(total or 0)
    return out


def links(estate_id: int) -> dict[str, str]:
    """Where the digest's figures lead: the wallet list filtered, the notifications log."""
    wallets = f"/wallets?estate={estate_id}"
    return {"critical": f"{wallets}&state=critical", "low": f"{wallets}&state=low",
            "zero": f"{wallets}&flag=zero", "silent": f"{wallets}&flag=silent",
            "high_usage": f"/notifications?type=high_usage&estate={estate_id}"}


def digest_pass(session, kind: str, first: int, last: int, *, now: datetime, tz: str,
                task_run_id: int | None = None) -> DigestPass:
    """One chunk of send_operator_digests: the estates with ids first..last (`kind` is
    always operator_digest; `tz` the zone of estates without their own)."""
    where = Estate.id.between(first, last)
    found = DigestPass()
    estates = session.execute(select(Estate.id, Estate.name, Estate.timezone).where(where)
                              .order_by(Estate.id)).all()
    found.scanned = len(estates)
    counts = figures(session, where, now)
    pending = []
    for estate_id, name, zone in estates:
        f = counts[estate_id]
        day = local_day(now, zone or tz)
        local = now.astimezone(ZoneInfo(zone or tz))
        title, message = messages.operator_digest(
            name, words.day_words(local.date(), near=False), f)
        data = {"estate_id": estate_id, "estate": name, "local_day": day,
                **{k: v for k, v in f.items() if not isinstance(v, Decimal)},
                "topup_total": money_str(f["topup_total"]),
                "purchase_total": money_str(f["purchase_total"]),
                "links": links(estate_id), "task_run_id": task_run_id}
        pending.append(notifications.notification_row(
            KIND, title, message, dedup_key=f"{KIND}:{estate_id}:{day}", now=now,
            task_run_id=task_run_id, data=data))
    found.notification_ids = notifications.store(session, pending)
    if found.notification_ids:
        made = session.scalars(select(Notification.data).where(
            Notification.id.in_(found.notification_ids)))
        session.execute(update(Estate).where(Estate.id.in_([d["estate_id"] for d in made]))
                        .values(digest_at=now))
    return found
