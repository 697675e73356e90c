"""The scans' forecast in SQL says what the pages' forecast in Python says: the same run-out
second, the same supply end, the same words, on SQLite and PostgreSQL alike (`make
test-postgres` runs this file there too), for estates in Johannesburg (no daylight saving)
and in London (which has it), from the stored sort key and from a sum of the purchases."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, select, type_coerce

from dashboard.models import Transaction, Unit, Wallet
from dashboard.models.types import epoch
from dashboard.services.forecast import FriendlyHours
from dashboard.services.forecast import sql as forecast_sql
from dashboard.services.forecast import wallets as forecast_wallets
from dashboard.services.forecast.runout import credit_seconds, forecast, quoted
from dashboard.services.payments import transactions
from tests import factories

ZONES = ("Africa/Johannesburg", "Europe/London")
_names = count(1)


def make_wallet(db, zone: str, balance: int, purchases: list[int], now: datetime) -> Wallet:
    """A wallet on a new estate in `zone`, with `purchases` (cents) two days before now."""
    estate = factories.estate(db, name=f"Forecast {next(_names)}", timezone=zone)
    w = factories.wallet(db, str(D(balance) / 100), estate_obj=estate)
    for cents in purchases:
        db.add(Transaction(wallet_id=w.id, type="purchase", utility="electricity",
                           amount=D(cents) / 100, balance_before=D(0), balance_after=D(0),
                           created_at=now - timedelta(days=2)))
    db.flush()
    return w


def sql_forecasts(db, ids: list[int], now: datetime) -> dict[int, tuple]:
    """What the scans compute for these wallets: (runs_out, words, supply words, supply)."""
    forecast_sql.ensure_calendars(db, now, "Africa/Johannesburg")
    runs_out = forecast_sql.runs_out_sql(now)
    span = forecast_sql.span_at(Unit.estate_id, runs_out)
    texts = forecast_sql.forecast_texts(runs_out, span, forecast_sql.now_seconds(now))
    rows = db.execute(
        select(Wallet.id, runs_out, texts["runs_out_local"], texts["supply_local"],
               type_coerce(span.table.c.supply_until, BigInteger))
        .select_from(Wallet.__table__.join(Unit.__table__, Unit.id == Wallet.unit_id)
                     .outerjoin(span.table, span.on))
        .where(Wallet.id.in_(ids)))
    return {row[0]: tuple(row[1:]) for row in rows}


def python_forecast(w: Wallet, spend: D, zone: str, now: datetime) -> tuple:
    """The same four figures from the Python forecast (None where an alert quotes none)."""
    found = forecast(w.balance, spend, now, FriendlyHours(zone))
    if found is None or not quoted(credit_seconds(w.balance, spend)):
        return (None, None, None, None)
    if not found.friendly:
        return (epoch(found.runs_out_at), found.runs_out_text, None, None)
    return (epoch(found.runs_out_at), found.runs_out_text, found.supply_text,
            epoch(found.supply_until))


def check_agreement(db, cases, now: datetime) -> None:
    """Both ways, for wallets never given a sort key (the scans sum their purchases) and
    again once the SQL refresh has stored it (the scans read it)."""
    made = []
    for zone, balance, purchases in cases:
        made.append((make_wallet(db, zone, balance, purchases, now), zone,
                     D(sum(purchases)) / 100))
    ids = [w.id for w, _, _ in made]
    summed = sql_forecasts(db, ids, now)
    assert forecast_sql.refresh_credit_seconds(db, now) >= len(ids)
    stored = sql_forecasts(db, ids, now)
    for w, zone, spend in made:
        db.refresh(w)
        assert w.credit_seconds == credit_seconds(w.balance, spend)  # SQL refresh = Python
        expected = python_forecast(w, spend, zone, now)
        assert summed[w.id] == expected, (zone, w.balance, spend, now)
        assert stored[w.id] == expected, (zone, w.balance, spend, now)


@st.composite
def a_wallet(draw):
    """A zone, a balance in cents and purchases in cents: some wallets run out in hours,
    some in weeks, some never get quoted."""
    spend = draw(st.lists(st.integers(100, 600_000), min_size=0, max_size=3))
    balance = draw(st.one_of(st.integers(0, 2_000), st.integers(0, 300_000)))
    return draw(st.sampled_from(ZONES)), balance, spend


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases=st.lists(a_wallet(), min_size=1, max_size=6),
       now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1),
                        timezones=st.just(timezone.utc)))
def test_sql_and_python_forecasts_agree(db, cases, now):
    """Any balance, spend, zone and moment (daylight-saving changes and holidays included)."""
    try:
        check_agreement(db, cases, now)
    finally:
        db.rollback()


@pytest.mark.parametrize(("zone", "now", "balance", "purchases", "cut"), [
    # Easter 2026 in Johannesburg: Thursday 08:00, R 46 at R 20 a day runs out Saturday
    # 11:12; Good Friday to Family Day Monday keeps the supply on until Tuesday 07:00.
    ("Africa/Johannesburg", datetime(2026, 4, 2, 8, 0, tzinfo=ZoneInfo("Africa/Johannesburg")),
     4600, [60_000], "Tue 07:00"),
    # Friday night in London the weekend the clocks go back: until Monday 07:00 local.
    ("Europe/London", datetime(2026, 10, 23, 12, 0, tzinfo=ZoneInfo("Europe/London")),
     1000, [90_000], "Mon 07:00"),
])
def test_a_run_out_inside_a_long_weekend_agrees(db, zone, now, balance, purchases, cut):
    """The named cases, so they are always among those checked."""
    now = now.astimezone(timezone.utc)
    w = make_wallet(db, zone, balance, purchases, now)
    found = python_forecast(w, D(sum(purchases)) / 100, zone, now)
    assert found[2] == cut
    check_agreement(db, [(zone, balance, purchases)], now)


def test_a_transaction_stores_the_sort_key_the_sql_refresh_would(db, make):
    """After a purchase the wallet's credit_seconds is Python's; the SQL refresh of the same
    wallet gives the same figure and the same expiry."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    w = make.wallet("500.00")
    transactions.purchase(db, w.id, "electricity", "120.00", now=now)
    transactions.purchase(db, w.id, "water", "30.00", now=now)
    db.refresh(w)
    spend, first = forecast_wallets.spend_window(db, w.id, now)
    assert w.credit_seconds == credit_seconds(D("350.00"), D("150.00")) == 6048000
    assert w.forecast_expires_at == first + timedelta(days=30)
    w.credit_seconds, w.forecast_expires_at = None, None
    db.commit()
    assert forecast_sql.refresh_credit_seconds(db, now) == 1
    db.commit()
    db.refresh(w)
    assert w.credit_seconds == 6048000 and w.forecast_expires_at == first + timedelta(days=30)
