"""send_operator_digests: one digest per estate per local day, whose figures are what the
database holds; in-app for operators and by email to the operators with an address; once
however often the scan runs, and however many beats fire it."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dashboard.models import (
    Estate,
    Meter,
    MeterReading,
    Notification,
    NotificationDelivery,
    Person,
    Transaction,
    Unit,
    Wallet,
)
from dashboard.services import notifications
from dashboard.services.scans import run_scan
from tests import factories
from tests.races import two_scans_at_once

NOW = datetime(2026, 3, 10, 5, 30, tzinfo=timezone.utc)  # 07:30 in Johannesburg
SCAN = "send_operator_digests"


def digests(db) -> list[Notification]:
    """The digests, oldest first."""
    return list(db.scalars(select(Notification).where(Notification.type == "operator_digest")
                           .order_by(Notification.id)))


def busy_estate(db, make):
    """An estate with wallets in every state, a silent meter, a high-usage alert and a day
    of top-ups and purchases (some older than a day, which do not count)."""
    e = make.estate(name="Digest Estate")
    wallets = [make.wallet(b, estate_obj=e) for b in
               ("0.00", "5.00", "30.00", "40.00", "200.00", "900.00")]
    wallets[1].state_since = NOW - timedelta(hours=2)  # critical since this morning: new
    wallets[2].state_since = NOW - timedelta(days=3)  # low for days: not new
    m = make.meter(wallets[4])
    m.silent_since = NOW - timedelta(days=3)
    db.add(MeterReading(meter_id=m.id, reading=Decimal(1), consumption=Decimal(1),
                        taken_at=NOW - timedelta(days=3)))
    other = make.meter(wallets[5])
    for key, ago in (("hu-1", timedelta(hours=3)), ("hu-old", timedelta(days=2))):
        db.add(Notification(**notifications.notification_row(
            "high_usage", "High", "High use", dedup_key=key, now=NOW - ago,
            wallet_id=wallets[5].id, meter_id=other.id)))
    money = ((wallets[4], "topup", "100.00", 2), (wallets[5], "topup", "50.50", 20),
             (wallets[5], "purchase", "30.00", 5), (wallets[4], "topup", "999.00", 30))
    for w, kind, amount, ago in money:
        db.add(Transaction(wallet_id=w.id, type=kind, amount=Decimal(amount),
                           utility="water" if kind == "purchase" else None,
                           balance_before=Decimal(0), balance_after=Decimal(0),
                           created_at=NOW - timedelta(hours=ago)))
    db.commit()
    return e


def expected_figures(db, estate_id: int, since: datetime) -> dict:
    """The digest's figures, counted plainly from the rows."""
    wallets = list(db.scalars(select(Wallet).join(Unit).where(Unit.estate_id == estate_id)))
    recent = [t for t in db.scalars(select(Transaction).join(Wallet).join(Unit).where(
        Unit.estate_id == estate_id)) if NOW - timedelta(days=1) < t.created_at <= NOW]
    meters = list(db.scalars(select(Meter).join(Unit).where(Unit.estate_id == estate_id)))
    high = [n for n in db.scalars(select(Notification).where(Notification.type == "high_usage"))
            if n.meter_id in {m.id for m in meters} and n.created_at > NOW - timedelta(days=1)]

    def new(state):
        return sum(1 for w in wallets if w.state == state and w.state_since
                   and w.state_since > since)

    return {"critical": sum(w.state == "critical" for w in wallets),
            "critical_new": new("critical"),
            "low": sum(w.state == "low" for w in wallets), "low_new": new("low"),
            "zero": sum(w.balance <= 0 for w in wallets),
            "silent_meters": sum(m.silent_since is not None for m in meters),
            "high_usage": len(high),
            "topups": sum(t.type == "topup" for t in recent),
            "topup_total": f"{sum(t.amount for t in recent if t.type == 'topup'):.2f}",
            "purchases": sum(t.type == "purchase" for t in recent),
            "purchase_total": f"{sum(t.amount for t in recent if t.type == 'purchase'):.2f}"}


def test_the_digest_says_what_the_database_holds(db, make):
    """Every figure checked against the rows; the links lead to the filtered lists."""
    e = busy_estate(db, make)
    made = run_scan(db, SCAN, now=NOW)
    (d,) = [n for n in digests(db) if n.data["estate_id"] == e.id]
    want = expected_figures(db, e.id, NOW - timedelta(days=1))
    assert {k: d.data[k] for k in want} == want
    assert want["critical"] == 2 and want["critical_new"] == 1 and want["zero"] == 1
    assert want["topups"] == 2 and want["topup_total"] == "150.50"
    assert (want["silent_meters"], want["high_usage"]) == (1, 1)
    assert d.title == "Morning digest for Digest Estate, Tue 10 Mar" and d.priority == "normal"
    assert "2 critical wallets (1 new since the last digest)" in d.message
    assert "2 top-ups for R 150.50 and 1 purchase for R 30.00" in d.message
    assert d.data["links"]["critical"] == f"/wallets?estate={e.id}&state=critical"
    assert d.data["links"]["silent"] == f"/wallets?estate={e.id}&flag=silent"
    assert d.data["local_day"] == "2026-03-10" and made.notified == len(digests(db))


def test_new_counts_only_what_changed_since_the_last_digest(db, make):
    """The next morning a wallet critical since yesterday's digest is not new, one that
    became critical since is."""
    e = busy_estate(db, make)
    run_scan(db, SCAN, now=NOW)
    later = make.wallet("1.00", estate_obj=e)
    later.state_since = NOW + timedelta(hours=5)
    db.commit()
    run_scan(db, SCAN, now=NOW + timedelta(days=1))
    today = [n for n in digests(db) if n.data["estate_id"] == e.id][-1]
    assert today.data["critical"] == 3 and today.data["critical_new"] == 1


def test_one_digest_per_estate_per_local_day(db, make):
    """A second run the same morning and a run at 23:00 the same local day make nothing;
    after local midnight (22:00 UTC in Johannesburg) the next day's digest is made."""
    e = busy_estate(db, make)
    run_scan(db, SCAN, now=NOW)
    assert run_scan(db, SCAN, now=NOW + timedelta(minutes=1)).notified == 0
    late, midnight = (datetime(2026, 3, 10, h, 0, tzinfo=timezone.utc) for h in (21, 22))
    assert run_scan(db, SCAN, now=late).notified == 0
    assert run_scan(db, SCAN, now=midnight).notified == 1
    assert [n.data["local_day"] for n in digests(db) if n.data["estate_id"] == e.id] == \
        ["2026-03-10", "2026-03-11"]


def test_two_beats_make_one_digest_per_estate(db):
    """Two scans fired together (two threads, two sessions) over ten estates."""
    for _ in range(10):
        factories.wallet(db, "30.00")
    db.commit()
    results = two_scans_at_once(SCAN, NOW, chunk_size=3)
    db.commit()
    per_estate = db.execute(select(Notification.dedup_key, func.count())
                            .where(Notification.type == "operator_digest")
                            .group_by(Notification.dedup_key)).all()
    assert len(per_estate) == 10 and {n for _, n in per_estate} == {1}
    assert sum(r.notified for r in results) == 10


def test_operators_with_an_address_get_it_by_email_residents_never(db, make):
    """Email deliveries for the operator with an email address (the other: none, and no
    in-app rows: operators see every notification); none for residents or viewers."""
    e = busy_estate(db, make)
    person = Person(first_name="Olga", last_name="Operator", email="olga@example.test")
    db.add(person)
    db.flush()
    with_address = make.user("operator", person_id=person.id)
    make.user("operator")
    viewer_person = Person(first_name="Vic", last_name="Viewer", email="vic@example.test")
    db.add(viewer_person)
    db.flush()
    make.user("viewer", person_id=viewer_person.id)
    make.resident(db.scalars(select(Wallet).join(Unit).where(Unit.estate_id == e.id)).first())
    run_scan(db, SCAN, now=NOW)
    (d,) = [n for n in digests(db) if n.data["estate_id"] == e.id]
    rows = db.scalars(select(NotificationDelivery)
                      .where(NotificationDelivery.notification_id == d.id)).all()
    assert [(r.user_id, r.channel, r.address, r.status) for r in rows] == \
        [(with_address.id, "email", "olga@example.test", "pending")]


@pytest.mark.stack
def test_two_scheduled_deliveries_on_the_worker_make_one_digest_per_estate(stack):
    """The scheduled task delivered twice at once to the real worker (two beats without the
    lock, a redelivery): however the runs meet, each estate has one digest for the day."""
    from celery import Celery

    client = Celery(broker=stack.redis_url, backend=stack.redis_url)
    try:
        results = [client.send_task(SCAN, kwargs={"trigger": "schedule"},
                                    queue="notifications") for _ in range(2)]
        outcomes = [r.get(timeout=60) for r in results]
    finally:
        client.close()
    assert any(o.get("state") == "succeeded" for o in outcomes), outcomes
    with stack.session() as s:
        keys = s.execute(select(Notification.dedup_key, func.count())
                         .where(Notification.type == "operator_digest")
                         .group_by(Notification.dedup_key)).all()
        estates = s.scalar(select(func.count()).select_from(Estate))
    assert keys and {n for _, n in keys} == {1}
    assert len(keys) == estates  # every estate of the stack's database, once


def test_operators_follow_the_digests_links_to_the_filtered_lists(client, auth, db, make):
    """In the notifications log the digest links to its estate's critical wallets, and that
    list shows the critical wallets of the estate only."""
    e = busy_estate(db, make)
    other = make.wallet("5.00")  # critical, on another estate
    run_scan(db, SCAN, now=NOW)
    make.user("operator", email="digest-op@example.test")
    assert auth.login("digest-op@example.test").status_code == 302
    log = client.get("/notifications?type=operator_digest").get_data(as_text=True)
    link = f'href="/wallets?estate={e.id}&amp;state=critical">Critical wallets</a>'
    assert link in log
    listed = client.get(f"/wallets?estate={e.id}&state=critical").get_data(as_text=True)
    critical = db.scalars(select(Wallet.id).join(Unit).where(
        Unit.estate_id == e.id, Wallet.state == "critical")).all()
    assert all(f'/wallets/{i}"' in listed for i in critical) and len(critical) == 2
    assert f'/wallets/{other.id}"' not in listed
