"""A scan through the real worker and web with residents connecting while it runs: each one
ends with exactly its notifications in the database, received live or through the `sync`
it sends on connecting, whatever moment it connected at (before, during or after the
chunk that notified it). Operators get one `notifications_batch` per chunk, no
individual scan notification."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from dashboard.models import NotificationDelivery, TaskRun
from tests import factories
from tests.livestack import Recorder
from tests.stack import Stack, wait_for

pytestmark = pytest.mark.stack

RESIDENTS = 40
WALLETS = 4000  # 40 chunks of 100: a scan long enough to connect during it


@pytest.fixture(scope="module")
def scan_stack(redis_url, tmp_path_factory):
    """A private stack (web and one worker, chunks of 100 wallets), all wallets low; one
    resident on each of RESIDENTS wallets spread over the id range, and an operator."""
    from dashboard.db import Session, init_engine
    from tests.conftest import fresh_database

    workdir = tmp_path_factory.mktemp("presence")
    db_url = fresh_database(workdir, migrate=True)
    init_engine(db_url)
    factories.bulk_wallets(Session, WALLETS, balances=(2000,))
    from dashboard.models import Wallet

    ids = Session.scalars(select(Wallet.id).order_by(Wallet.id)).all()
    emails = []
    for i, wallet_id in enumerate(ids[::WALLETS // RESIDENTS][:RESIDENTS]):
        emails.append(f"presence-{i}@example.test")
        factories.resident(Session, Session.get(Wallet, wallet_id), email=emails[-1])
    factories.user(Session, "operator", email="presence-op@example.test")
    Session.commit()
    Session.remove()
    stack = Stack(db_url, redis_url.rsplit("/", 1)[0] + "/6", workdir)
    stack.env.update(SCAN_CHUNK_SIZE="100", WORKER_CONCURRENCY="1")
    stack.start("web", "worker")
    stack.emails = emails
    yield stack
    stack.stop()


def test_residents_connecting_during_a_scan_get_exactly_theirs(scan_stack):
    stack = scan_stack
    tokens = [stack.token(e) for e in stack.emails]
    operator = Recorder(stack.url, token=stack.token("presence-op@example.test")).connect()
    early = [Recorder(stack.url, token=t).connect() for t in tokens[:5]]  # before the scan
    clients = list(early)
    acks: list[dict] = []
    progress: list[int] = []  # chunks published when each of the others had connected

    def join_during_the_scan():
        """The others connect one by one while the scan runs, each syncing at once as
        live.js does (a new page starts from its rendered cursor; these have none: 0)."""
        for token in tokens[5:]:
            client = Recorder(stack.url, token=token).connect()
            clients.append(client)
            acks.append(client.sync(after_id=0))
            with stack.session() as s:
                progress.append(s.get(TaskRun, run_id).chunks_published)
            time.sleep(0.05)

    try:
        r = stack.api("POST", "/scans/check_low_credit_wallets/run",
                      stack.token("presence-op@example.test"))
        assert r.status_code == 202, r.text
        run_id = r.json()["task_run"]["id"]
        joiner = threading.Thread(target=join_during_the_scan)
        joiner.start()
        joiner.join(120)

        def finished():
            with stack.session() as s:
                return s.get(TaskRun, run_id).state in ("succeeded", "failed")

        wait_for(finished, timeout=120)
        with stack.session() as s:
            run = s.get(TaskRun, run_id)
            assert run.state == "succeeded" and run.chunks_total == WALLETS // 100
            expected = {}
            for email in stack.emails:
                user = user_id_of(s, email)
                expected[email] = set(s.scalars(select(NotificationDelivery.notification_id)
                                                .where(NotificationDelivery.user_id == user)))
        # A chunk in flight when a resident joined has them in its presence read or not;
        # either way it is theirs by now, live or synced.
        for client, email in zip(clients, stack.emails, strict=True):
            client.wait(lambda c, e=email: set(c.ids()) >= expected[e], timeout=15)
        time.sleep(0.3)
        for client, email in zip(clients, stack.emails, strict=True):
            assert len(expected[email]) == 1, email  # one low-credit alert each
            assert set(client.ids()) == expected[email], email
        # Those connected throughout got theirs live (nothing else could have sent it).
        assert all(len(c.ids()) == 1 for c in early)
        assert len(acks) == RESIDENTS - 5
        assert any(0 < p < WALLETS // 100 for p in progress), progress  # really during it
        batches = operator.wait(lambda c: [b for b in c.of("notifications_batch")
                                           if b["task_run_id"] == run_id]
                                if sum(b["count"] for b in c.of("notifications_batch")
                                       if b["task_run_id"] == run_id) == WALLETS else None,
                                timeout=30)
        assert len(batches) == WALLETS // 100
        assert all(b["by_type"] == {"low_credit": b["count"]} for b in batches)
        assert not [n for n in operator.of("notification")
                    if (n.get("data") or {}).get("task_run_id") == run_id]
    finally:
        operator.close()
        for client in clients:
            client.close()


def user_id_of(session, email: str) -> int:
    """A user's id by email."""
    from dashboard.models import User

    return session.scalar(select(User.id).where(User.email == email))
