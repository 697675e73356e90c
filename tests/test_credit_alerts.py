"""Low and critical credit alerts: who gets one, when, how often, and re-arming after a top-up."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dashboard.models import (
    Notification,
    NotificationDelivery,
    Occupancy,
    Person,
    Wallet,
)
from dashboard.services.payments import transactions
from dashboard.services.scans import credit_alerts, run_scan
from tests import factories

T0 = datetime(2026, 3, 10, 4, 0, 0, tzinfo=timezone.utc)  # 06:00 in Johannesburg


def check(db, wallet_id, now):
    """What check_wallet_after_transaction does for one wallet, committed."""
    passes = credit_alerts.check_wallet(db, wallet_id, now)
    db.commit()
    return passes


def alerts(db, wallet_id, kind=None):
    """The wallet's credit notifications, oldest first."""
    q = select(Notification).where(Notification.wallet_id == wallet_id,
                                   Notification.type.in_([kind] if kind else
                                                         ["low_credit", "critical_credit"]))
    return list(db.scalars(q.order_by(Notification.id)).all())


def test_low_wallet_gets_a_low_credit_alert_in_rand(db, make):
    """R 30 under a R 50 threshold: one high-priority low_credit that quotes both amounts."""
    w = make.wallet("30.00", threshold="50.00")
    passes = check(db, w.id, T0)
    assert passes["low_credit"].notified == 1 and passes["critical_credit"].notified == 0
    (n,) = alerts(db, w.id)
    assert (n.type, n.priority) == ("low_credit", "high")
    assert n.title == "Your credit is running low"
    assert "R 30.00" in n.message and "R 50.00" in n.message
    assert n.data["balance"] == "30.00" and n.data["threshold"] == "50.00"
    assert n.resolved_at is None


def test_balance_exactly_at_the_threshold_gets_no_alert(db, make):
    """Balance == threshold is ok in amount mode: nothing is sent."""
    w = make.wallet("50.00", threshold="50.00")
    passes = check(db, w.id, T0)
    assert passes["low_credit"].eligible == 0 and alerts(db, w.id) == []
    assert db.get(Wallet, w.id, populate_existing=True).state == "ok"


def test_exactly_twenty_percent_is_low_and_a_cent_under_is_critical(db, make):
    """At 20% of the threshold a wallet gets low_credit; a cent under, critical_credit."""
    at_fifth = make.wallet("10.00", threshold="50.00")
    under = make.wallet("9.99", threshold="50.00")
    check(db, at_fifth.id, T0)
    check(db, under.id, T0)
    assert [n.type for n in alerts(db, at_fifth.id)] == ["low_credit"]
    (n,) = alerts(db, under.id)
    assert (n.type, n.priority) == ("critical_credit", "critical")
    assert "R 9.99" in n.message


def test_zero_threshold_never_alerts(db, make):
    """Threshold 0 = alerts off: an empty wallet stays ok and gets nothing, from any path."""
    w = make.wallet("0.00", threshold="0.00", state="critical")  # a stale stored state
    check(db, w.id, T0)
    run_scan(db, "check_low_credit_wallets", now=T0)
    run_scan(db, "check_critical_credit_wallets", now=T0)
    assert alerts(db, w.id) == []
    assert db.get(Wallet, w.id, populate_existing=True).state == "ok"


def test_days_mode_alerts_with_history_and_not_without(db, make):
    """Days mode: 2 days of credit left (of 3) alerts and says so; no history, no alert."""
    with_history = make.wallet("20.00", threshold="15.00", mode="days", days=3)
    factories.purchase_history(db, with_history, ["150.00", "150.00"])  # R 10 a day
    db.commit()
    without = make.wallet("20.00", threshold="15.00", mode="days", days=3)
    check(db, with_history.id, datetime.now(timezone.utc))
    check(db, without.id, datetime.now(timezone.utc))
    (n,) = alerts(db, with_history.id)
    assert n.type == "low_credit" and "about 2.0 days" in n.message
    assert n.data["days_left"] == "2.0"
    assert alerts(db, without.id) == []


def test_no_second_low_alert_inside_the_frequency_window(db, make):
    """24 h window with 5 min slack: nothing at 23:54:59 after the first alert, one at 23:55.

    The slack exists so a daily 06:00 scan that starts a few seconds earlier than yesterday's
    still fires; it makes the effective window 23 h 55 min, and no shorter.
    """
    w = make.wallet("30.00", threshold="50.00", frequency=24)
    assert check(db, w.id, T0)["low_credit"].notified == 1
    for later in (timedelta(minutes=1), timedelta(hours=12),
                  timedelta(hours=23, minutes=54, seconds=59)):
        passes = check(db, w.id, T0 + later)
        assert passes["low_credit"].notified == 0 and passes["low_credit"].skipped == 1, later
    assert len(alerts(db, w.id)) == 1
    assert check(db, w.id, T0 + timedelta(hours=23, minutes=55))["low_credit"].notified == 1
    assert len(alerts(db, w.id, "low_credit")) == 2


def test_next_days_scan_a_little_early_still_alerts(db, make):
    """Yesterday's 06:00 scan ran at 06:00:30; today's starts at 06:00:02: it still alerts."""
    w = make.wallet("30.00", threshold="50.00", frequency=24)
    check(db, w.id, T0 + timedelta(seconds=30))
    assert check(db, w.id, T0 + timedelta(days=1, seconds=2))["low_credit"].notified == 1


def test_frequency_window_follows_the_wallet_setting(db, make):
    """A 6-hour setting: silent at 5 h 54 min 59 s, alerts again at 5 h 55 min."""
    w = make.wallet("30.00", threshold="50.00", frequency=6)
    check(db, w.id, T0)
    assert check(db, w.id, T0 + timedelta(hours=5, minutes=54, seconds=59)
                 )["low_credit"].notified == 0
    assert check(db, w.id, T0 + timedelta(hours=5, minutes=55))["low_credit"].notified == 1
    assert len(alerts(db, w.id)) == 2


def test_critical_alerts_at_once_after_a_recent_low_alert(db, make):
    """A purchase minutes after a low alert takes the wallet critical: critical goes out now."""
    w = make.wallet("30.00", threshold="50.00")
    check(db, w.id, T0)
    transactions.purchase(db, w.id, "electricity", "25.00", now=T0 + timedelta(minutes=3))
    passes = check(db, w.id, T0 + timedelta(minutes=3))
    assert passes["critical_credit"].notified == 1
    assert [n.type for n in alerts(db, w.id)] == ["low_credit", "critical_credit"]
    # ...and the critical window holds too: another small purchase sends nothing.
    transactions.purchase(db, w.id, "water", "1.00", now=T0 + timedelta(minutes=10))
    assert check(db, w.id, T0 + timedelta(minutes=10))["critical_credit"].notified == 0
    assert len(alerts(db, w.id)) == 2


def test_top_up_back_to_ok_resolves_alerts_and_re_arms(db, make):
    """Recovery resolves open alerts (resolved_at set); the next fall alerts at once."""
    w = make.wallet("30.00", threshold="50.00")
    check(db, w.id, T0)
    transactions.purchase(db, w.id, "electricity", "25.00", now=T0 + timedelta(minutes=1))
    check(db, w.id, T0 + timedelta(minutes=1))
    low, critical = alerts(db, w.id)
    restored_at = T0 + timedelta(hours=1)
    result = transactions.top_up(db, w.id, "100.00", "card", now=restored_at)
    assert result.state == "ok" and sorted(result.resolved_ids) == [low.id, critical.id]
    for n in alerts(db, w.id):
        db.refresh(n)
        assert n.resolved_at == restored_at
    # Two hours later (well inside the 24 h window) the wallet falls again: alerts at once.
    transactions.purchase(db, w.id, "electricity", "70.00", now=T0 + timedelta(hours=2))
    assert check(db, w.id, T0 + timedelta(hours=2))["low_credit"].notified == 1
    transactions.purchase(db, w.id, "electricity", "30.00", now=T0 + timedelta(hours=3))
    assert check(db, w.id, T0 + timedelta(hours=3))["critical_credit"].notified == 1
    fresh = alerts(db, w.id)[2:]
    assert [n.type for n in fresh] == ["low_credit", "critical_credit"]
    assert all(n.resolved_at is None for n in fresh)
    assert len({n.dedup_key for n in alerts(db, w.id)}) == 4


def test_top_up_that_stays_low_resolves_nothing_and_keeps_the_window(db, make):
    """Critical → low is not recovery: the critical alert stays open, no re-arm."""
    w = make.wallet("5.00", threshold="50.00")
    check(db, w.id, T0)
    result = transactions.top_up(db, w.id, "20.00", "eft", now=T0 + timedelta(minutes=5))
    assert result.state == "low" and result.resolved_ids == []
    (critical,) = alerts(db, w.id, "critical_credit")
    db.refresh(critical)
    assert critical.resolved_at is None
    transactions.purchase(db, w.id, "water", "20.00", now=T0 + timedelta(minutes=10))
    assert check(db, w.id, T0 + timedelta(minutes=10))["critical_credit"].notified == 0


def test_the_same_check_twice_stores_and_reports_one_alert(db, make):
    """A task delivered twice (even with the same clock reading) makes one notification,
    and the repeat reports nothing new, so nothing is published twice."""
    w = make.wallet("30.00", threshold="50.00")
    first = check(db, w.id, T0)["low_credit"]
    again = check(db, w.id, T0)["low_credit"]
    later = check(db, w.id, T0 + timedelta(seconds=1))["low_credit"]
    assert first.notified == 1 and len(first.notification_ids) == 1
    assert again.notification_ids == [] and again.notified == 0
    assert later.notification_ids == [] and later.notified == 0
    assert len(alerts(db, w.id)) == 1


def test_alerts_go_to_the_units_residents_only(db, make):
    """Tenant and owner of the unit get the alert in-app; a neighbour and a past tenant don't."""
    w = make.wallet("30.00", threshold="50.00")
    tenant = make.resident(w, name=("Thandi", "Nkosi"))
    owner = make.resident(w, name=("Johan", "Botha"), role="owner", primary=False)
    past = make.resident(w, name=("Old", "Tenant"))
    occ = db.scalars(select(Occupancy).join(Person).where(Person.first_name == "Old")).one()
    occ.end_date = date.today() - timedelta(days=2)
    db.commit()
    neighbour = make.resident(make.wallet("90.00"))
    staff = make.user("operator")
    (nid,) = check(db, w.id, T0)["low_credit"].notification_ids
    got = set(db.scalars(select(NotificationDelivery.user_id)
                         .where(NotificationDelivery.notification_id == nid)))
    assert got == {tenant.id, owner.id}
    assert not {past.id, neighbour.id, staff.id} & got


def test_scan_counts_scanned_notified_skipped(db, make):
    """A low scan over ok, low, critical, off and recently-alerted wallets counts each right."""
    e = make.estate()
    make.wallet("80.00", estate_obj=e)                 # ok
    make.wallet("30.00", estate_obj=e)                 # low → notified
    make.wallet("5.00", estate_obj=e)                  # critical: not the low scan's business
    make.wallet("0.00", threshold="0.00", estate_obj=e)  # off
    recent = make.wallet("40.00", estate_obj=e)        # low, alerted an hour ago → skipped
    check(db, recent.id, T0 - timedelta(hours=1))
    result = run_scan(db, "check_low_credit_wallets", now=T0)
    assert result.counts() == {"scanned": 5, "notified": 1, "skipped": 1}
    assert db.scalar(select(func.count()).select_from(Notification)
                     .where(Notification.task_run_id.is_(None),
                            Notification.created_at == T0)) == 1
    critical = run_scan(db, "check_critical_credit_wallets", now=T0)
    assert critical.counts() == {"scanned": 5, "notified": 1, "skipped": 0}


def test_scan_refreshes_stale_stored_states(db, make):
    """The scan decides by the rule, not by a stale stored state."""
    w = make.wallet("30.00", threshold="50.00", state="ok")  # stored wrongly as ok
    ok = make.wallet("80.00", threshold="50.00", state="low")  # stored wrongly as low
    assert run_scan(db, "check_low_credit_wallets", now=T0).notified == 1
    assert [n.wallet_id for n in db.scalars(select(Notification))] == [w.id]
    assert db.get(Wallet, ok.id, populate_existing=True).state == "ok"
    assert Decimal(db.get(Wallet, w.id).balance) == Decimal("30.00")


@pytest.mark.parametrize("stored", ["ok", "low", "critical"])
@pytest.mark.parametrize(("balance", "mode", "spend"), [
    ("80.00", "amount", None), ("30.00", "amount", None), ("5.00", "amount", None),
    ("40.00", "days", "600.00"), ("40.00", "days", "100.00"), ("40.00", "days", None),
])
def test_one_wallet_check_does_what_the_set_based_check_does(db, make, stored, balance, mode,
                                                             spend):
    """check_wallet's shortcut for `ok` wallets ends where check_wallets ends: the same stored
    state and the same alerts, whatever state was stored before."""
    outcomes = []
    for check_fn in (lambda w: credit_alerts.check_wallet(db, w.id, T0),
                     lambda w: credit_alerts.check_wallets(db, Wallet.__table__.c.id == w.id, T0)):
        w = make.wallet(balance, threshold="50.00", mode=mode, state=stored)
        if spend:
            factories.purchase_history(db, w, [spend], days_ago=5)
        db.commit()
        passes = check_fn(w)
        db.commit()
        outcomes.append((db.get(Wallet, w.id, populate_existing=True).state,
                         {k: (p.notified, p.eligible) for k, p in passes.items()},
                         [n.type for n in alerts(db, w.id)]))
    assert outcomes[0] == outcomes[1]
