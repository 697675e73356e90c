"""Top-ups and purchases: exact money, units at the tariff, atomic under parallel requests."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dashboard.models import Notification, Transaction, Wallet
from dashboard.services.errors import Conflict, ValidationFailed
from dashboard.services.payments import transactions
from dashboard.services.payments.notices import notify_transaction
from tests import factories

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
D = Decimal






def wallet_row(db, wallet_id):
    """The wallet as stored now."""
    return db.get(Wallet, wallet_id, populate_existing=True)


def test_top_up_adds_to_the_balance(db, make):
    """R 20.00 + R 100.50 = R 120.50, and the ledger row says so."""
    w = make.wallet("20.00")
    result = transactions.top_up(db, w.id, "100.50", "card", now=NOW)
    tx = result.transaction
    assert result.created and wallet_row(db, w.id).balance == D("120.50")
    assert (tx.type, tx.amount, tx.balance_before, tx.balance_after, tx.method) == \
        ("topup", D("100.50"), D("20.00"), D("120.50"), "card")


@pytest.mark.parametrize("utility, amount, units, credit", [
    ("electricity", "25.00", "10.000", "electricity_credit"),  # R 2.50 / kWh
    ("water", "10.00", "0.400", "water_credit"),               # R 25.00 / kL
    ("hot_water", "1.00", "0.025", "hot_water_credit"),        # R 40.00 / kL
    ("electricity", "0.01", "0.004", "electricity_credit"),    # 0.004 kWh, rounded down
    ("solar", "1.99", "0.995", "solar_credit"),
])
def test_purchase_moves_money_to_the_utility_and_gives_units(db, make, utility, amount, units,
                                                            credit):
    """A purchase takes from balance, adds to that utility's credit, gives units at the tariff."""
    w = make.wallet("100.00")
    tx = transactions.purchase(db, w.id, utility, amount, now=NOW).transaction
    after = wallet_row(db, w.id)
    assert after.balance == D("100.00") - D(amount)
    assert getattr(after, credit) == D(amount)
    assert sum(after.balances.values()) == D(amount)
    assert (tx.utility, tx.units, tx.balance_after) == (utility, D(units), after.balance)


def test_purchase_above_the_balance_is_refused_and_writes_nothing(db, make):
    """R 50.01 from R 50.00 is a 409 naming the balance; nothing changes."""
    w = make.wallet("50.00")
    with pytest.raises(Conflict) as err:
        transactions.purchase(db, w.id, "water", "50.01", now=NOW)
    assert err.value.code == "insufficient_funds" and "R 50.00" in err.value.message
    assert wallet_row(db, w.id).balance == D("50.00")
    assert db.scalar(select(func.count()).select_from(Transaction)) == 0
    # The whole balance can be spent: never below zero, but down to zero.
    transactions.purchase(db, w.id, "water", "50.00", now=NOW)
    assert wallet_row(db, w.id).balance == D("0.00")


def test_utility_the_estate_does_not_sell_is_refused(db, make):
    """No tariff, no sale: 422 and the balance is untouched."""
    e = make.estate(tariffs={"electricity": "2.50"})
    w = make.wallet("50.00", estate_obj=e)
    with pytest.raises(ValidationFailed):
        transactions.purchase(db, w.id, "water", "5.00", now=NOW)
    assert wallet_row(db, w.id).balance == D("50.00")


def test_idempotency_key_replay_returns_the_first_transaction(db, make):
    """The same key and request twice: one transaction, the second call reports a replay."""
    w = make.wallet("100.00")
    first = transactions.purchase(db, w.id, "water", "10.00", now=NOW, idempotency_key="k-1")
    again = transactions.purchase(db, w.id, "water", "10.00", now=NOW, idempotency_key="k-1")
    assert first.created and not again.created
    assert again.transaction.id == first.transaction.id
    assert wallet_row(db, w.id).balance == D("90.00")
    with pytest.raises(Conflict) as err:
        transactions.purchase(db, w.id, "water", "11.00", now=NOW, idempotency_key="k-1")
    assert err.value.code == "idempotency_key_reused"
    with pytest.raises(Conflict):
        transactions.top_up(db, w.id, "10.00", "card", now=NOW, idempotency_key="k-1")
    assert db.scalar(select(func.count()).select_from(Transaction)) == 1


def test_transaction_notice_is_stored_once(db, make):
    """send_*_notification's service twice (even at the same moment) stores one notification."""
    w = make.wallet("100.00")
    tx = transactions.purchase(db, w.id, "electricity", "25.00", now=NOW).transaction
    first = notify_transaction(db, tx.id, NOW)
    db.commit()
    assert notify_transaction(db, tx.id, NOW) == []
    assert notify_transaction(db, tx.id, datetime.now(timezone.utc)) == []
    db.commit()
    (n,) = db.scalars(select(Notification)).all()
    assert [n.id] == first
    assert (n.type, n.priority, n.transaction_id) == ("purchase_success", "normal", tx.id)
    assert n.title == "Electricity bought"
    assert "10 kWh of electricity" in n.message and "R 25.00" in n.message \
        and "R 75.00" in n.message
    assert n.data["units"] == "10.000" and n.data["utility"] == "electricity"


def test_topup_notice_quotes_amount_and_balance(db, make):
    """topup_success: plain words, the amount and the new balance in rand."""
    w = make.wallet("1200.00")
    tx = transactions.top_up(db, w.id, "34.50", "eft", now=NOW).transaction
    notify_transaction(db, tx.id, NOW)
    db.commit()
    n = db.scalars(select(Notification)).one()
    assert n.type == "topup_success" and n.title == "Top-up received"
    assert "R 34.50 was added" in n.message and "R 1,234.50" in n.message


# -- parallel requests through the HTTP layer ---------------------------------------------

def parallel(app, requests_, workers=20):
    """Send requests (method, url, kwargs) at once from `workers` threads; statuses in order."""
    barrier = threading.Barrier(workers)

    def send(req):
        method, url, kwargs = req
        client = app.test_client()
        barrier.wait()
        return client.open(url, method=method, **kwargs)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(send, requests_))


def test_twenty_parallel_purchases_end_at_the_exact_balance(app, db, make, client):
    """R 100 and 20 purchases of R 7 at once: 14 succeed, 6 get 409, R 2.00 left, never < 0."""
    w = make.wallet("100.00")
    headers = factories.operator_and_token(db, client)
    url = f"/api/v1/wallets/{w.id}/purchases"
    body = {"utility": "electricity", "amount": "7.00"}
    responses = parallel(app, [("POST", url, {"json": body, "headers": headers})] * 20)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 14 + [409] * 6, [r.get_json() for r in responses]
    assert all(r.get_json()["error"]["code"] == "insufficient_funds"
               for r in responses if r.status_code == 409)
    after = wallet_row(db, w.id)
    assert after.balance == D("2.00") and after.electricity_credit == D("98.00")
    ledger = db.scalars(select(Transaction).where(Transaction.wallet_id == w.id)
                        .order_by(Transaction.id)).all()
    assert len(ledger) == 14 and sum(t.amount for t in ledger) == D("98.00")
    # Each purchase saw the balance the previous one left: a chain, no lost update.
    chain = [(t.balance_before, t.balance_after) for t in ledger]
    assert chain == [(D(100 - 7 * i), D(93 - 7 * i)) for i in range(14)]
    assert min(t.balance_after for t in ledger) >= 0


def test_parallel_top_ups_and_purchases_lose_no_update(app, db, make, client):
    """10 top-ups of R 10 and 10 purchases of R 5 at once from R 0: exactly R 50 at the end."""
    w = make.wallet("0.00")
    headers = factories.operator_and_token(db, client)
    reqs = []
    for _ in range(10):
        reqs.append(("POST", f"/api/v1/wallets/{w.id}/topups",
                     {"json": {"amount": "10.00", "method": "cash"}, "headers": headers}))
        reqs.append(("POST", f"/api/v1/wallets/{w.id}/purchases",
                     {"json": {"utility": "water", "amount": "5.00"}, "headers": headers}))
    responses = parallel(app, reqs)
    made = sum(r.status_code == 201 for r in responses)
    refused = [r for r in responses if r.status_code != 201]
    assert all(r.status_code == 409 for r in refused)
    ledger = db.scalars(select(Transaction).where(Transaction.wallet_id == w.id)).all()
    assert len(ledger) == made
    topups = sum(t.type == "topup" for t in ledger)
    purchases = len(ledger) - topups
    assert topups == 10
    signed = sum(t.amount if t.type == "topup" else -t.amount for t in ledger)
    assert wallet_row(db, w.id).balance == signed == D("100.00") - D("5.00") * purchases
    assert min(t.balance_after for t in ledger) >= 0


def test_parallel_replays_of_one_idempotency_key_make_one_transaction(app, db, make, client):
    """20 requests with one Idempotency-Key at once: one 201, nineteen 200 with the same body."""
    w = make.wallet("100.00")
    headers = {**factories.operator_and_token(db, client), "Idempotency-Key": "pay-once"}
    url = f"/api/v1/wallets/{w.id}/topups"
    responses = parallel(app, [("POST", url, {"json": {"amount": "10.00", "method": "eft"},
                                              "headers": headers})] * 20)
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.get_data() for r in responses}) == 1
    assert wallet_row(db, w.id).balance == D("110.00")
    assert db.scalar(select(func.count()).select_from(Transaction)) == 1
