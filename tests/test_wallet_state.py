"""Wallet state (ok / low / critical): the rule's edges, and the Python and SQL forms agreeing."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from dashboard.models import Transaction, Wallet
from dashboard.services.wallets.state import compute_state, days_left, spend_30d, state_sql
from tests import factories

D = Decimal
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("balance, expected", [
    ("50.00", "ok"),        # exactly at the threshold: not below it
    ("50.01", "ok"),
    ("49.99", "low"),
    ("10.00", "low"),       # exactly 20% of the threshold: not below it, so low
    ("9.99", "critical"),   # just under 20%
    ("0.00", "critical"),
])
def test_amount_mode_edges(balance, expected):
    """Threshold R 50: at the threshold is ok, at 20% is low, a cent under 20% is critical."""
    assert compute_state(D(balance), D("50.00"), "amount", 3, D(0)) == expected


def test_twenty_percent_boundary_with_an_odd_threshold():
    """20% of R 33.33 is R 6.666: R 6.67 is low, R 6.66 is critical (no rounding up)."""
    assert compute_state(D("6.67"), D("33.33"), "amount", 3, D(0)) == "low"
    assert compute_state(D("6.66"), D("33.33"), "amount", 3, D(0)) == "critical"


@pytest.mark.parametrize("mode", ["amount", "days"])
@pytest.mark.parametrize("balance", ["0.00", "0.01", "5.00", "1000.00"])
def test_zero_threshold_turns_alerts_off(mode, balance):
    """A zero threshold means alerts are off: always ok, even at a zero balance."""
    assert compute_state(D(balance), D("0.00"), mode, 3, D("900.00")) == "ok"


def test_days_mode_with_spend_history():
    """R 300 spent in 30 days is R 10 a day; 3 days of credit is R 30: R 30 ok, R 29.99 low."""
    assert compute_state(D("30.00"), D("50.00"), "days", 3, D("300.00")) == "ok"
    assert compute_state(D("29.99"), D("50.00"), "days", 3, D("300.00")) == "low"
    # Days mode ignores the amount rule: R 45 is under the R 50 threshold but 4.5 days.
    assert compute_state(D("45.00"), D("50.00"), "days", 3, D("300.00")) == "ok"
    # Critical is still 20% of the threshold, whatever the mode.
    assert compute_state(D("9.99"), D("50.00"), "days", 3, D("300.00")) == "critical"


def test_days_mode_without_spend_history_is_ok_unless_critical():
    """No purchases in 30 days: days left are unknown, so only the critical rule applies."""
    assert compute_state(D("10.00"), D("50.00"), "days", 3, D(0)) == "ok"
    assert compute_state(D("9.99"), D("50.00"), "days", 3, D(0)) == "critical"


def test_days_left():
    """Balance ÷ (30-day spend ÷ 30), to one decimal; None without spend."""
    assert days_left(D("45.00"), D("300.00")) == D("4.5")
    assert days_left(D("45.00"), D(0)) is None


def test_spend_window_is_the_last_30_days(db, make):
    """Purchases older than 30 days and top-ups are not spend."""
    w = make.wallet("100.00")
    for amount, age, kind in (("100.00", timedelta(days=29, hours=23), "purchase"),
                              ("70.00", timedelta(days=30), "purchase"),
                              ("900.00", timedelta(days=30, seconds=1), "purchase"),
                              ("500.00", timedelta(days=1), "topup")):
        db.add(Transaction(wallet_id=w.id, type=kind, amount=D(amount), balance_before=D(0),
                           balance_after=D(0), created_at=NOW - age,
                           utility="water" if kind == "purchase" else None))
    db.commit()
    assert spend_30d(db, w.id, NOW) == D("170.00")


# -- Python and SQL agree -----------------------------------------------------------------

THRESHOLDS = [D("0.00"), D("0.05"), D("10.00"), D("33.33"), D("50.00"), D("2000.00")]


@st.composite
def wallet_case(draw):
    """A wallet's settings, a balance near the interesting edges, and a purchase history."""
    threshold = draw(st.sampled_from(THRESHOLDS))
    fifth_cents = int(threshold * 100) // 5
    edges = [threshold, threshold - D("0.01"), threshold + D("0.01"), D(fifth_cents) / 100,
             D(fifth_cents - 1) / 100, D(fifth_cents + 1) / 100, D(0)]
    balance = draw(st.one_of(st.sampled_from(edges),
                             st.integers(0, 300_000).map(lambda c: D(c) / 100)))
    balance = max(balance, D(0))
    mode = draw(st.sampled_from(["amount", "days"]))
    days = draw(st.integers(1, 60))
    # (amount in cents, age in hours); ages straddle the 30-day (720 h) edge.
    history = draw(st.lists(st.tuples(st.integers(1, 50_000),
                                      st.sampled_from([1, 100, 719, 720, 721, 2000])),
                            max_size=4))
    return balance, threshold, mode, days, history


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases=st.lists(wallet_case(), min_size=1, max_size=12))
def test_compute_state_and_state_sql_agree(db, make, cases):
    """For any wallet, the SQL CASE of the scans gives the state compute_state gives."""
    e = factories.estate(db)
    expected = {}
    for balance, threshold, mode, days, history in cases:
        w = factories.wallet(db, str(balance), threshold=str(threshold), mode=mode, days=days,
                             estate_obj=e, state="ok")
        spend = D(0)
        for cents, hours in history:
            amount = D(cents) / 100
            created = NOW - timedelta(hours=hours)
            db.add(Transaction(wallet_id=w.id, type="purchase", utility="electricity",
                               amount=amount, balance_before=D(0), balance_after=D(0),
                               created_at=created))
            if created >= NOW - timedelta(days=30):
                spend += amount
        expected[w.id] = compute_state(balance, threshold, mode, days, spend)
    db.flush()
    got = dict(db.execute(select(Wallet.id, state_sql(NOW)).where(Wallet.id.in_(expected))).all())
    db.rollback()
    assert got == expected


def test_compute_state_and_state_sql_agree_on_the_edge_grid(db, make):
    """Every threshold × edge balance × mode × history: SQL and Python agree, all states seen."""
    e = factories.estate(db)
    histories = [[], [(30_000, 100)], [(30_000, 721)], [(9_000, 720), (100, 1)]]
    expected = {}
    for threshold in THRESHOLDS:
        fifth = int(threshold * 100) // 5
        for cents in {0, fifth - 1, fifth, fifth + 1, int(threshold * 100) - 1,
                      int(threshold * 100), 2_999, 3_000}:
            if cents < 0:
                continue
            for mode in ("amount", "days"):
                for history in histories:
                    w = factories.wallet(db, str(D(cents) / 100), threshold=str(threshold),
                                         mode=mode, days=3, estate_obj=e, state="ok")
                    spend = D(0)
                    for amount, hours in history:
                        created = NOW - timedelta(hours=hours)
                        db.add(Transaction(wallet_id=w.id, type="purchase", utility="water",
                                           amount=D(amount) / 100, balance_before=D(0),
                                           balance_after=D(0), created_at=created))
                        if created >= NOW - timedelta(days=30):
                            spend += D(amount) / 100
                    expected[w.id] = compute_state(D(cents) / 100, threshold, mode, 3, spend)
    db.flush()
    got = dict(db.execute(select(Wallet.id, state_sql(NOW)).where(Wallet.id.in_(expected))).all())
    db.rollback()
    assert got == expected
    assert set(expected.values()) == {"ok", "low", "critical"}
