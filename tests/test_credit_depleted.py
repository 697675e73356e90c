"""credit_depleted: told once per fall to zero, after the transaction that leaves 0.00 or by
the critical scan, re-armed by a top-up, never twice under retries, racing scans or two
beats; and sent at once whatever the quiet hours, like critical credit."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from dashboard.models import Notification, NotificationDelivery, QuietHours, Wallet
from dashboard.services.channels import delivery
from dashboard.services.payments import transactions
from dashboard.services.scans import credit_alerts, run_scan
from tests import factories
from tests.races import two_scans_at_once

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)  # Tuesday 14:00 in Johannesburg
KIND = "credit_depleted"


def depleted(db, wallet_id=None) -> list[Notification]:
    """The credit_depleted notifications (of one wallet), oldest first."""
    q = select(Notification).where(Notification.type == KIND)
    if wallet_id is not None:
        q = q.where(Notification.wallet_id == wallet_id)
    return list(db.scalars(q.order_by(Notification.id)))


def test_a_purchase_leaving_zero_tells_once_and_a_top_up_re_arms(db, make):
    """Buy the last R 30: one credit_depleted (critical priority) after the check, none
    after a second check; a top-up resolves it; the next fall to zero tells again."""
    w = make.wallet("30.00")
    transactions.purchase(db, w.id, "electricity", "30.00", now=T0)
    first = credit_alerts.check_wallet(db, w.id, T0)
    db.commit()
    assert first[KIND].notified == 1
    (n,) = depleted(db, w.id)
    assert (n.priority, n.title) == ("critical", "Your credit has run out")
    assert n.message == (f"Unit {w.unit.number}, {w.unit.estate.name} has run out of credit. "
                         "Your supply can be cut off at any time. Top up now to keep your "
                         "electricity and water on.")
    assert credit_alerts.check_wallet(db, w.id, T0 + timedelta(minutes=1))[KIND].notified == 0
    db.commit()
    result = transactions.top_up(db, w.id, "50.00", "cash", now=T0 + timedelta(hours=1))
    assert n.id in result.resolved_ids
    db.expire_all()
    assert depleted(db, w.id)[0].resolved_at is not None
    assert db.get(Wallet, w.id).depleted_at is None
    transactions.purchase(db, w.id, "water", "50.00", now=T0 + timedelta(hours=2))
    credit_alerts.check_wallet(db, w.id, T0 + timedelta(hours=2))
    db.commit()
    assert [x.dedup_key for x in depleted(db, w.id)] == [f"{KIND}:{w.id}:1", f"{KIND}:{w.id}:2"]


def test_inside_friendly_hours_the_message_says_until_when(db, make):
    """At zero on a Saturday: friendly hours keep the supply on until Monday 07:00."""
    saturday = datetime(2026, 3, 14, 10, 0, tzinfo=timezone.utc)
    w = make.wallet("0.00")
    credit_alerts.check_wallet(db, w.id, saturday)
    db.commit()
    (n,) = depleted(db, w.id)
    assert "Friendly hours keep your supply on until Mon 07:00." in n.message
    monday = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)  # 07:00 in Johannesburg
    assert n.data["supply_until"] == int(monday.timestamp())  # seconds, as stored
    from dashboard.services.serialize import notification_json

    assert notification_json(n)["data"]["supply_until"] == monday.isoformat()  # as the API


def test_the_critical_scan_tells_a_wallet_at_zero_not_yet_told(db, make):
    """A wallet that reached zero without its check (seeded, or the task was lost) is told
    by the critical scan, once however often it runs; a wallet with alerts off is not."""
    w = make.wallet("0.00")
    make.wallet("0.00", threshold="0.00")  # alerts off
    make.wallet("70.00")
    first = run_scan(db, "check_critical_credit_wallets", now=T0)
    again = run_scan(db, "check_critical_credit_wallets", now=T0 + timedelta(hours=4))
    assert [n.wallet_id for n in depleted(db)] == [w.id]
    assert first.notified == 2 and again.notified == 0  # critical_credit and credit_depleted
    assert run_scan(db, "check_low_credit_wallets", now=T0).notified == 0


def test_two_critical_scans_at_once_tell_each_wallet_once(db):
    """Two beats firing the critical scan together (two threads, two sessions): one
    credit_depleted per wallet at zero, and the runs' counts add up."""
    factories.bulk_wallets(db, 90, balances=(0, 800, 9000))
    db.commit()
    results = two_scans_at_once("check_critical_credit_wallets", T0, chunk_size=20)
    db.commit()
    per_wallet = db.execute(select(Notification.wallet_id, func.count())
                            .where(Notification.type == KIND)
                            .group_by(Notification.wallet_id)).all()
    assert len(per_wallet) == 30 and {n for _, n in per_wallet} == {1}
    # 0.00 and 8.00 are both critical under R 50: 60 critical_credit, 30 credit_depleted.
    assert sum(r.notified for r in results) == 90


def test_credit_depleted_goes_through_quiet_hours(db):
    """Email and SMS wait out a resident's quiet hours, except critical credit and credit
    depleted, which go at once."""
    from tests.channels_kit import resident_with

    w = factories.wallet(db, "0.00")
    user = resident_with(db, w)
    db.merge(QuietHours(user_id=user.id, start_minute=0, end_minute=23 * 60 + 59))
    db.commit()
    credit_alerts.check_wallet(db, w.id, T0)
    db.commit()
    ids = list(db.scalars(select(NotificationDelivery.id).where(
        NotificationDelivery.channel != "in_app")))
    changed = delivery.triage(db, ids, T0 + timedelta(minutes=1), tz="Africa/Johannesburg",
                              configured={"email": True, "sms": True})
    db.commit()
    kinds = {d.notification.type: d.status for d in db.scalars(
        select(NotificationDelivery).where(NotificationDelivery.id.in_(ids)))}
    assert changed == [] and set(kinds) == {"critical_credit", KIND}
    assert set(kinds.values()) == {"pending"}  # not held: the sender takes them now
    assert Decimal(db.get(Wallet, w.id).balance) == 0
