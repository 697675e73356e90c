"""Where the run-out forecast shows: the wallet JSON, the wallet list's "cuts out soonest"
(paged by its index, wallets without a forecast last), its zero-balance filter, and the
estate's friendly-hours settings with their impact preview."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from dashboard.models import Estate, Wallet
from dashboard.services.forecast import FriendlyHours, supply_until
from dashboard.services.forecast import sql as forecast_sql
from dashboard.services.payments import transactions
from dashboard.services.wallets import search as wallet_service
from tests import factories
from tests.conftest import PG_URL, csrf_from
from tests.test_api_wallets import query_plans


@pytest.fixture
def op(db, client):
    """Operator bearer headers."""
    return factories.operator_and_token(db, client)


def spending(db, make, balance: str, spend: str, estate=None) -> Wallet:
    """A wallet that bought `spend` today out of `balance` + `spend` (its sort key made by
    the purchase, as every transaction makes it)."""
    w = make.wallet(str(Decimal(balance) + Decimal(spend)), estate_obj=estate)
    if Decimal(spend):
        transactions.purchase(db, w.id, "electricity", spend, now=datetime.now(timezone.utc))
    return db.get(Wallet, w.id, populate_existing=True)


def test_the_wallet_json_has_its_run_out_and_supply_times(client, db, make, op):
    """R 30 left at R 300 in 30 days: runs out 3 days from now; supply_until is that or the
    end of the friendly hours holding it; a wallet without purchases has nulls."""
    w = spending(db, make, "30.00", "300.00")
    idle = make.wallet("80.00")
    body = client.get(f"/api/v1/wallets/{w.id}", headers=op).get_json()
    runs_out = datetime.fromisoformat(body["runs_out_at"])
    assert abs(runs_out - (datetime.now(timezone.utc) + timedelta(days=3))) < timedelta(minutes=1)
    assert datetime.fromisoformat(body["supply_until"]) >= runs_out
    empty = client.get(f"/api/v1/wallets/{idle.id}", headers=op).get_json()
    assert (empty["runs_out_at"], empty["supply_until"]) == (None, None)
    listed = client.get("/api/v1/wallets", headers=op).get_json()["items"]
    assert {i["id"]: i["runs_out_at"] for i in listed}[w.id] == body["runs_out_at"]


def test_cuts_out_soonest_pages_in_order_and_puts_unknowns_last(client, db, make, op):
    """Sorted by seconds of credit left, two at a time across the boundary into the wallets
    without a forecast; every wallet once; the runs-out times never go backwards."""
    made = [spending(db, make, b, s) for b, s in (("90.00", "300.00"), ("10.00", "300.00"),
                                                  ("50.00", "30.00"), ("0.00", "120.00"),
                                                  ("20.00", "600.00"))]
    idle = [make.wallet("40.00"), make.wallet("5.00")]
    seen, times, cursor = [], [], ""
    while True:
        body = client.get(f"/api/v1/wallets?sort=runs_out&limit=2&cursor={cursor}",
                          headers=op).get_json()
        seen += [i["id"] for i in body["items"]]
        times += [i["runs_out_at"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    by_credit = sorted(made, key=lambda w: (w.credit_seconds, w.id))
    assert seen == [w.id for w in by_credit] + sorted(w.id for w in idle)
    known = [datetime.fromisoformat(t) for t in times if t]
    assert known == sorted(known) and times[-2:] == [None, None]


def test_cursors_of_the_sort_are_checked(client, op):
    """A forged cursor is a 422 with the error shape, never a 500."""
    for cursor in ("cabc_5", "c-1_5", "c" + "9" * 20 + "_5", "c1_", "c1_99999999999"):
        r = client.get(f"/api/v1/wallets?sort=runs_out&cursor={cursor}", headers=op)
        assert r.status_code == 422 and "error" in r.get_json(), cursor
    assert client.get("/api/v1/wallets?flag=nope", headers=op).status_code == 422


def test_the_zero_filter_finds_wallets_at_zero(client, make, op):
    """flag=zero: the wallets at R 0.00 only."""
    zero, _ = make.wallet("0.00"), make.wallet("0.01")
    body = client.get("/api/v1/wallets?flag=zero", headers=op).get_json()
    assert [i["id"] for i in body["items"]] == [zero.id]


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's EXPLAIN QUERY PLAN")
def test_cuts_out_soonest_seeks_in_its_index(db, make):
    """A page after a cursor seeks in (credit_seconds, id): no scan of the wallets, no sort."""
    for b in ("10.00", "20.00", "30.00"):
        spending(db, make, b, "300.00")
    operator = factories.user(db, "operator")
    db.commit()
    after = wallet_service.encode_cursor({"id": 1, "credit": 86400})
    plans = query_plans(db, lambda: wallet_service.list_wallets(db, operator, sort="runs_out",
                                                                cursor=after))
    assert "SEARCH wallets USING INDEX ix_wallets_credit_seconds_id" in plans[0], plans
    assert "TEMP B-TREE" not in plans[0], plans


def hours_form(**changes) -> dict:
    """The estate hours form as the defaults fill it, with `changes`."""
    form = {"friendly_hours": "1", "friendly_start": "18:00", "friendly_end": "07:00",
            "friendly_weekends": "1", "friendly_holidays": "1", "timezone": "",
            "meter_silent_hours": "48", "sms_delay_minutes": "0"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_the_hours_preview_counts_the_residents_who_would_see_another_time(client, auth, db,
                                                                         make):
    """Friendly hours off would change the time shown to the residents of wallets running
    out inside friendly hours, and to no one else; the preview saves nothing. Run-outs every
    13 hours for a week: some inside friendly hours, some outside, whatever the hour now."""
    e = make.estate()
    hours = FriendlyHours("Africa/Johannesburg")
    inside = 0
    for k in range(1, 14):
        # R 300 in 30 days is R 10 a day: R 10 × 13/24 × k lasts 13 × k hours.
        w = spending(db, make, f"{Decimal(130 * k) / 24:.2f}", "300.00", estate=e)
        make.resident(w)
        runs_out = datetime.now(timezone.utc) + timedelta(seconds=w.credit_seconds)
        inside += supply_until(runs_out, hours) > runs_out + timedelta(minutes=2)
    assert 0 < inside < 13
    make.user("operator", email="hours-op@example.test")
    assert auth.login("hours-op@example.test").status_code == 302
    token = csrf_from(client.get(f"/thresholds/estates/{e.id}").get_data(as_text=True))
    r = client.post(f"/thresholds/estates/{e.id}/hours/preview",
                    data={"csrf_token": token, **hours_form(friendly_hours=None)},
                    headers={"HX-Request": "true"})
    text = r.get_data(as_text=True)
    assert f"this would change the run-out time shown to {inside} resident" in text, text
    db.expire_all()
    assert db.get(Estate, e.id).friendly_hours is True
    same = client.post(f"/thresholds/estates/{e.id}/hours/preview",
                       data={"csrf_token": token, **hours_form()}, headers={"HX-Request": "true"})
    assert "no wallet's run-out time would change" in same.get_data(as_text=True)


def test_the_hours_form_refuses_bad_values_beside_their_fields(client, auth, db, make):
    """Bad times, zone and numbers: 422, each named, nothing saved; good ones are saved and
    remake the estate's calendar."""
    e = make.estate()
    make.user("operator", email="hours-op2@example.test")
    assert auth.login("hours-op2@example.test").status_code == 302
    token = csrf_from(client.get(f"/thresholds/estates/{e.id}").get_data(as_text=True))
    bad = client.post(f"/thresholds/estates/{e.id}/hours", data={"csrf_token": token, **hours_form(
        friendly_start="25:00", timezone="Mars/Olympus", meter_silent_hours="0",
        sms_delay_minutes="lots")})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    for message in ("Enter a time like 21:00.", "Enter a time zone like Africa/Johannesburg.",
                    "Enter a whole number of hours from 1 to 720.",
                    "Enter a whole number of minutes from 0 to 1,440."):
        assert message in text
    forecast_sql.ensure_calendars(db, datetime.now(timezone.utc), "Africa/Johannesburg")
    db.commit()
    good = client.post(f"/thresholds/estates/{e.id}/hours", data={
        "csrf_token": token, **hours_form(friendly_start="19:30", timezone="Europe/London",
                                          meter_silent_hours="72", sms_delay_minutes="15")})
    assert good.status_code == 303
    db.expire_all()
    saved = db.get(Estate, e.id)
    assert (saved.friendly_start, saved.timezone, saved.meter_silent_hours,
            saved.sms_delay_minutes) == (19 * 60 + 30, "Europe/London", 72, 15)
    assert saved.calendar_until is not None  # remade for the new hours at once
