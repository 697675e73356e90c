"""check_silent_meters: a meter with no reading for its estate's meter_silent_hours is told
to the operators once per silence, re-armed by its next reading; the wallet page and the
wallet list show it; residents are never told."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from dashboard.models import Meter, Notification, NotificationDelivery
from dashboard.services.scans import run_scan
from tests import factories
from tests.races import two_scans_at_once

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=timezone.utc)  # 08:00 in Johannesburg
SCAN = "check_silent_meters"


def silent_alerts(db) -> list[Notification]:
    """The meter_silent notifications, oldest first."""
    return list(db.scalars(select(Notification).where(Notification.type == "meter_silent")
                           .order_by(Notification.id)))


def meter_read(db, make, hours_ago: list[float], **estate):
    """A wallet (with a resident) and its electricity meter read `hours_ago` before NOW."""
    e = make.estate(**estate)
    w = make.wallet(estate_obj=e)
    make.resident(w)
    m = make.meter(w)
    factories.readings(db, m, [(NOW - timedelta(hours=h), 1000 + i)
                               for i, h in enumerate(sorted(hours_ago, reverse=True))], now=NOW)
    db.commit()
    return w, m


def test_a_meter_silent_for_48_hours_is_told_once(db, make):
    """Last read 49 hours ago: one high-priority notice to operators naming the meter and
    when it last reported; a second run tells nothing new; a meter read 47 hours ago and a
    meter that never reported are not silent."""
    w, m = meter_read(db, make, [72, 49])
    meter_read(db, make, [50, 47])
    never = make.meter(make.wallet())
    first = run_scan(db, SCAN, now=NOW)
    again = run_scan(db, SCAN, now=NOW + timedelta(minutes=30))
    (n,) = silent_alerts(db)
    assert (n.meter_id, n.wallet_id, n.priority) == (m.id, w.id, "high")
    assert n.title == "A meter stopped reporting"
    assert m.serial in n.message and "since Sun 8 Mar 07:00" in n.message
    assert (first.notified, again.notified, again.skipped) == (1, 0, 1)
    assert db.get(Meter, never.id).silent_since is None
    # Operators only: no resident has a delivery of it.
    assert db.scalar(select(func.count()).select_from(NotificationDelivery)
                     .where(NotificationDelivery.notification_id == n.id)) == 0


def test_the_next_reading_re_arms_it(db, make):
    """Silent, told; it reports again (and the flag clears), goes silent again: told again."""
    w, m = meter_read(db, make, [60])
    run_scan(db, SCAN, now=NOW)
    factories.readings(db, m, [(NOW + timedelta(hours=1), 2000)], now=NOW + timedelta(hours=1))
    db.commit()
    run_scan(db, SCAN, now=NOW + timedelta(hours=2))
    assert db.get(Meter, m.id, populate_existing=True).silent_since is None
    assert len(silent_alerts(db)) == 1
    run_scan(db, SCAN, now=NOW + timedelta(hours=50))
    assert [n.meter_id for n in silent_alerts(db)] == [m.id, m.id]
    keys = [n.dedup_key for n in silent_alerts(db)]
    assert len(set(keys)) == 2


def test_the_estate_sets_how_long_is_silent(db, make):
    """An estate allowing 72 hours: 60 hours without a reading is not yet silent."""
    meter_read(db, make, [60], meter_silent_hours=72)
    assert run_scan(db, SCAN, now=NOW).notified == 0
    assert run_scan(db, SCAN, now=NOW + timedelta(hours=13)).notified == 1


def test_two_scans_at_once_tell_each_meter_once(db, make):
    """Two beats firing the scan together: one notice per silent meter."""
    for _ in range(6):
        meter_read(db, make, [80, 60])
    results = two_scans_at_once(SCAN, NOW, chunk_size=2, apart=timedelta(seconds=1))
    db.commit()
    assert len(silent_alerts(db)) == 6
    assert sum(r.notified for r in results) == 6


def test_the_wallet_page_and_list_show_a_silent_meter(client, auth, db, make):
    """After the check, the wallet's page names the meter and the list marks the wallet;
    the list's "Silent meter" filter finds it and not the others."""
    w, m = meter_read(db, make, [60])
    quiet = make.wallet()
    run_scan(db, SCAN, now=NOW)
    make.user("operator", email="silent-op@example.test")
    assert auth.login("silent-op@example.test").status_code == 302
    page = client.get(f"/wallets/{w.id}").get_data(as_text=True)
    assert "Silent meter" in page and m.serial in page
    listed = client.get("/wallets?flag=silent").get_data(as_text=True)
    assert f"/wallets/{w.id}\"" in listed and f"/wallets/{quiet.id}\"" not in listed
    assert "Silent meter" in listed
