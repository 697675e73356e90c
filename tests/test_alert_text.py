"""Credit alerts are written by the database (one INSERT … SELECT a chunk): their words and
figures must be exactly what the Python rendering of the same templates gives, on SQLite and
on PostgreSQL alike (`make test-postgres` runs this file there too)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, literal, select

from dashboard.models import Notification, Transaction, Wallet
from dashboard.models.types import epoch
from dashboard.services.forecast import FriendlyHours
from dashboard.services.forecast import sql as forecast_sql
from dashboard.services.forecast.runout import credit_seconds, forecast, quoted
from dashboard.services.money import format_rand, money_str
from dashboard.services.notifications import messages
from dashboard.services.scans import credit_alerts
from dashboard.services.sqlfuncs import format_sql, json_object, money_text, rand_text, text_sql
from dashboard.services.wallets.state import compute_state, days_left
from tests import factories

NOW = datetime(2026, 3, 10, 4, 0, 0, tzinfo=timezone.utc)
CENTS = [0, 1, 5, 9, 10, 99, 100, 101, 999, 1000, 99_999, 100_000, 123_456_789, 10**12 + 7]


@pytest.mark.parametrize("cents", CENTS + [-c for c in CENTS if c])
def test_money_in_sql_reads_as_in_python(db, cents):
    """`R 1,234,567.89` and "1234567.89", signs and zero padding included."""
    value = literal(cents, BigInteger)
    rand, plain = db.execute(select(rand_text(value), money_text(value))).one()
    assert rand == format_rand(D(cents) / 100)
    assert plain == money_str(D(cents) / 100)


def test_format_sql_keeps_the_template_words(db):
    """Constant text, quotes and a percent sign survive; fields take SQL values."""
    template = "It's {a}% of {b}, 100%."
    got = db.scalar(select(format_sql(template, a=literal(12), b=text_sql("the 'tariff'"))))
    assert got == template.format(a=12, b="the 'tariff'")


def test_json_object_refuses_keys_that_are_not_identifiers(db):
    """Keys are rendered inline, so anything but a plain name is refused."""
    with pytest.raises(ValueError):
        db.scalar(select(json_object("a'); DROP TABLE wallets; --", literal(1))))


@pytest.mark.parametrize(("balance", "spend", "expected"), [
    ("45.00", "300.00", "4.5"),  # exact
    ("0.01", "1.20", "0.3"),  # 0.25 days: half up (half-even would say 0.2)
    ("0.01", "0.40", "0.8"),  # 0.75
    ("10.00", "3.00", "100.0"),
    ("0.01", "9000.00", "0.0"),
])
def test_days_left_rounds_half_up_in_tenths(balance, spend, expected):
    """Integer arithmetic in cents, so SQL can give the same digits."""
    assert str(days_left(D(balance), D(spend))) == expected


def python_forecast(w: Wallet, spend: D, now=NOW) -> tuple[str, dict]:
    """The forecast sentence and figures an alert quotes, from the Python forecast."""
    hours = FriendlyHours.of(w.unit.estate, "Africa/Johannesburg")
    found = forecast(w.balance, spend, now, hours)
    if found is None or not quoted(credit_seconds(w.balance, spend)):
        return "", {"runs_out_at": None, "supply_until": None}
    sentence = messages.forecast_sentence(found.runs_out_text,
                                          found.supply_text if found.friendly else None)
    return sentence, {"runs_out_at": epoch(found.runs_out_at),
                      "supply_until": epoch(found.supply_until) if found.friendly else None}


def python_alert(kind, w: Wallet, spend: D, now=NOW) -> tuple[str, str, dict]:
    """What the alert for `w` says, rendered in Python from the same templates."""
    unit = f"{w.unit.number}, {w.unit.estate.name}"
    data = {"wallet_id": w.id, "balance": money_str(w.balance),
            "threshold": money_str(w.low_balance_threshold), "task_run_id": None}
    sentence, figures = python_forecast(w, spend, now)
    data.update(figures)
    if kind == "critical_credit":
        return (messages.CRITICAL_CREDIT_TITLE,
                messages.CRITICAL_CREDIT.format(unit=unit, balance=format_rand(w.balance),
                                                forecast=sentence), data)
    left = days_left(w.balance, spend) if w.alert_mode == "days" else None
    if left is None:
        text = messages.LOW_CREDIT.format(unit=unit, balance=format_rand(w.balance),
                                          threshold=format_rand(w.low_balance_threshold),
                                          forecast=sentence)
    else:
        data["days_left"] = str(left)
        text = messages.LOW_CREDIT_DAYS.format(unit=unit, balance=format_rand(w.balance),
                                               days_left=left, forecast=sentence)
    return messages.LOW_CREDIT_TITLE, text, data


@st.composite
def alerting_wallet(draw):
    """A wallet in alert: a balance under its threshold, and maybe a purchase history."""
    threshold = draw(st.integers(1, 5_000_000))
    balance = draw(st.integers(0, threshold - 1))
    mode = draw(st.sampled_from(["amount", "days"]))
    days = draw(st.integers(1, 60))
    history = draw(st.lists(st.integers(1, 900_000), max_size=3))
    return balance, threshold, mode, days, history


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases=st.lists(alerting_wallet(), min_size=1, max_size=8))
def test_sql_alerts_say_what_python_would(db, cases):
    """Title, message and data of every low and critical alert, character for character."""
    estate = factories.estate(db, name="Karoo Heights, Phase 2")  # a comma in the name
    spends = {}
    for balance, threshold, mode, days, history in cases:
        w = factories.wallet(db, str(D(balance) / 100), threshold=str(D(threshold) / 100),
                             mode=mode, days=days, estate_obj=estate)
        for cents in history:
            db.add(Transaction(wallet_id=w.id, type="purchase", utility="water",
                               amount=D(cents) / 100, balance_before=D(0), balance_after=D(0),
                               created_at=NOW - timedelta(days=2)))
        spends[w.id] = D(sum(history)) / 100
    db.flush()
    ids = list(spends)
    where = Wallet.__table__.c.id.in_(ids)
    forecast_sql.ensure_calendars(db, NOW, "Africa/Johannesburg")  # as every credit pass does
    credit_alerts.refresh_states(db, where, NOW)
    made = []
    for kind in credit_alerts.KINDS:
        made += credit_alerts.alert_pass(db, kind, where, NOW, task_run_id=None).notification_ids
    db.flush()
    wallets = {w.id: w for w in db.scalars(select(Wallet).where(where))}
    for w in wallets.values():
        db.refresh(w)
    expected_kinds = {}
    for wid, w in wallets.items():
        state = compute_state(w.balance, w.low_balance_threshold, w.alert_mode,
                              w.low_balance_days, spends[wid])
        if state != "ok":
            expected_kinds[wid] = f"{state}_credit"
    notes = db.scalars(select(Notification).where(Notification.id.in_(made))).all()
    assert {n.wallet_id: n.type for n in notes} == expected_kinds
    for n in notes:
        title, message, data = python_alert(n.type, wallets[n.wallet_id], spends[n.wallet_id])
        assert (n.title, n.message) == (title, message)
        assert n.data == data
        assert n.priority == messages.PRIORITIES[n.type]
    db.rollback()
