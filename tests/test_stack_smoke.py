"""The whole system across processes: API → database → worker → Redis."""
import time

import pytest

from dashboard.models import Notification, TaskRun
from tests import factories
from tests.stack import wait_for

pytestmark = pytest.mark.stack



def test_topup_stores_topup_success_within_a_second(stack):
    with stack.session() as s:
        w = factories.wallet(s, "20.00")
        factories.user(s, "operator", email="stack-op1@example.test")
        wallet_id = w.id
    token = stack.token("stack-op1@example.test")
    r = stack.api("POST", f"/wallets/{wallet_id}/topups", token,
                  json={"amount": "100.00", "method": "eft"})
    assert r.status_code == 201, r.text
    tx_id = r.json()["transaction"]["id"]
    started = time.monotonic()

    def stored():
        with stack.session() as s:
            return s.query(Notification).filter_by(transaction_id=tx_id,
                                                   type="topup_success").count()

    assert wait_for(stored, timeout=5) == 1
    assert time.monotonic() - started < 1.0


def test_run_now_goes_queued_running_succeeded(stack):
    with stack.session() as s:
        factories.user(s, "operator", email="stack-op2@example.test")
    token = stack.token("stack-op2@example.test")
    r = stack.api("POST", "/scans/check_low_credit_wallets/run", token)
    assert r.status_code == 202, r.text
    run = r.json()["task_run"]
    assert run["state"] == "queued" and run["trigger"] == "manual"

    def finished():
        body = stack.api("GET", f"/task-runs/{run['id']}", token).json()
        return body if body["state"] in ("succeeded", "failed") else None

    body = wait_for(finished, timeout=20)
    assert body["state"] == "succeeded", body
    assert body["started_at"] and body["finished_at"]
    assert body["result"]["scanned"] >= 20
    with stack.session() as s:
        assert s.get(TaskRun, run["id"]).attempts == 1
