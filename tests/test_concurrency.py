"""Concurrency through real HTTP on the live stack: 100 top-ups and purchases at once over 10
wallets, by their residents and an operator (a resident's top-up is a payment that the
provider's signed webhook credits, sent right after it starts). Every balance equals its
ledger sum, the ledger holds exactly the requests that were answered 201 (or the payments
the webhook credited), and the worker stores exactly one notification per transaction."""
from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier

import pytest
import requests
from sqlalchemy import func, select

from dashboard.models import UTILITIES, Notification, Transaction, Wallet
from tests import factories, provider
from tests.chaos import wait_until

pytestmark = pytest.mark.stack

OPENING = Decimal("60.00")


def make_wallets(stack, n: int) -> tuple[list[int], dict[int, str], str]:
    """`n` wallets with a resident each; (wallet ids, resident token per wallet, operator
    token)."""
    emails = {}
    op_email = f"conc-op-{uuid.uuid4().hex[:8]}@example.test"
    with stack.session() as s:
        estate = factories.estate(s)
        for _ in range(n):
            w = factories.wallet(s, str(OPENING), threshold="20.00", estate_obj=estate)
            emails[w.id] = f"conc-res-{uuid.uuid4().hex[:8]}@example.test"
            factories.resident(s, w, email=emails[w.id])
        factories.user(s, "operator", email=op_email)
    return list(emails), {w: stack.token(e) for w, e in emails.items()}, stack.token(op_email)


def test_100_parallel_top_ups_and_purchases_keep_every_ledger_exact(stack):
    """100 requests released together (50 threads, 10 wallets, top-ups and purchases mixed,
    some purchases larger than the balance can bear): see parallel_payments."""
    counts = parallel_payments(stack, requests_count=100, wallets=10, threads=50)
    # parallel_payments checks every ledger; here: each made transaction has one notification.
    assert counts and set(counts.values()) == {1}


def parallel_payments(stack, *, requests_count: int, wallets: int, threads: int) -> dict:
    """Top-ups and purchases over `wallets` wallets from `threads` threads, the first batch
    released together: balance = opening + top-ups - purchases for every wallet, utility
    credits = purchases per utility, the chain of balance_before/balance_after has no gap,
    refused purchases wrote nothing, and each transaction gets exactly one notification."""
    wallet_ids, resident_tokens, op_token = make_wallets(stack, wallets)
    rng = random.Random(8)
    plan = []
    for i in range(requests_count):
        wallet = wallet_ids[i % wallets]
        by_operator = i % 3 == 0
        token = op_token if by_operator else resident_tokens[wallet]
        if rng.random() < 0.5:
            body = {"amount": f"{rng.randint(500, 3000) / 100:.2f}",
                    "method": "cash" if by_operator else rng.choice(["card", "instant_eft"])}
            plan.append((wallet, token, "topups", body))
        else:
            body = {"utility": rng.choice(UTILITIES),
                    "amount": f"{rng.randint(500, 4500) / 100:.2f}"}
            plan.append((wallet, token, "purchases", body))

    barrier = Barrier(threads)

    def send(numbered):
        number, item = numbered
        wallet, token, kind, body = item
        if number < threads:  # the first batch leaves together; the rest follow as threads free
            barrier.wait()
        r = requests.post(f"{stack.url}/api/v1/wallets/{wallet}/{kind}", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if r.status_code == 202:  # a resident's payment: the provider confirms it at once
            payment = r.json()["payment"]
            webhook, headers = provider.signed(payment["id"], payment["amount"])
            r = requests.post(f"{stack.url}{provider.WEBHOOK}", data=webhook, headers=headers,
                              timeout=60)
            assert r.status_code == 200, r.text
            tx_id = r.json()["payment"]["transaction_id"]
            return item, 201, {"transaction": {"id": tx_id, "amount": payment["amount"]}}
        return item, r.status_code, r.json()

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(send, enumerate(plan)))

    statuses = [status for _, status, _ in answers]
    assert set(statuses) <= {201, 409}, [a for a in answers if a[1] not in (201, 409)][:3]
    assert all(body["error"]["code"] == "insufficient_funds"
               for (_, _, kind, _), status, body in answers if status == 409)
    made = {body["transaction"]["id"]: item for item, status, body in answers if status == 201}
    assert any(kind == "topups" for _, _, kind, _ in made.values())
    assert any(kind == "purchases" for _, _, kind, _ in made.values())

    with stack.session() as s:
        ledger = s.scalars(select(Transaction).where(Transaction.wallet_id.in_(wallet_ids))
                           .order_by(Transaction.id)).all()
        assert {t.id for t in ledger} == set(made), "the ledger is not what was answered 201"
        for wallet_id in wallet_ids:
            rows = [t for t in ledger if t.wallet_id == wallet_id]  # id order
            topups = sum(t.amount for t in rows if t.type == "topup")
            purchases = sum(t.amount for t in rows if t.type == "purchase")
            wallet = s.get(Wallet, wallet_id)
            assert wallet.balance == OPENING + topups - purchases >= 0, wallet_id
            for utility in UTILITIES:
                bought = sum(t.amount for t in rows if t.utility == utility)
                assert getattr(wallet, f"{utility}_credit") == bought, (wallet_id, utility)
            running = OPENING
            for t in rows:  # id order is commit order: each saw the balance the last one left
                assert t.balance_before == running, (wallet_id, t.id)
                running = t.balance_after
            assert running == wallet.balance
        for tx_id, (_, _, kind, body) in made.items():
            tx = next(t for t in ledger if t.id == tx_id)
            assert f"{tx.amount:.2f}" == body["amount"]
            assert tx.type == ("topup" if kind == "topups" else "purchase")

    def notice_counts():
        with stack.session() as s:
            rows = s.execute(select(Notification.transaction_id, func.count())
                             .where(Notification.transaction_id.in_(list(made)))
                             .group_by(Notification.transaction_id)).all()
        return dict(rows) if len(rows) == len(made) else None

    counts = wait_until(notice_counts, timeout=60 + requests_count / 10, interval=0.25,
                        what="a notification for every transaction")
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    with stack.session() as s:
        kinds = dict(s.execute(select(Notification.transaction_id, Notification.type)
                               .where(Notification.transaction_id.in_(list(made)))).all())
    for tx_id, (_, _, kind, _) in made.items():
        assert kinds[tx_id] == ("topup_success" if kind == "topups" else "purchase_success")
    return counts
