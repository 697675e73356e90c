"""Outbound webhooks, service by service, against a real local receiver: what is made where
the events happen (set-based), what is sent (signed, the API's JSON), retried, given up,
disabled after 24 hours (the clock is passed in), and resent."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from standardwebhooks import Webhook

from dashboard.db import get_engine, write_transaction
from dashboard.models import (
    WEBHOOK_EVENTS,
    Notification,
    TaskRun,
    Wallet,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    utcnow,
)
from dashboard.services import webhooks
from dashboard.services.errors import Conflict, ValidationFailed
from dashboard.services.payments import transactions
from dashboard.services.payments.notices import notify_transaction
from dashboard.services.scans import credit_alerts
from dashboard.services.scans import runs as task_runs
from dashboard.services.serialize import notification_json, task_run_json
from dashboard.services.webhooks import http, secrets
from tests import factories
from tests.webhook_receiver import Receiver

KEY = "test-sealing-key"
LOOPBACK = webhooks.UrlRules(allowed_hosts=frozenset({"127.0.0.1"}))
POLICY = webhooks.Policy(timeout=5, delays=(5, 60, 600, 3600, 4 * 3600), concurrency=4,
                         rules=LOOPBACK)
ALL = list(WEBHOOK_EVENTS)


@pytest.fixture
def receiver():
    """A receiver answering 200."""
    r = Receiver()
    yield r
    r.close()


def register(db, url, events=ALL):
    """An endpoint for `url` (its secret in .secret)."""
    made = webhooks.register(db, url, events, rules=LOOPBACK, key=KEY, user_id=None,
                             now=utcnow())
    db.commit()
    return made


def send_due(db, now, policy=POLICY) -> list:
    """One sweep at `now` and every batch it hands out, sent in this process."""
    batches = webhooks.sweep(db, now).batches
    return [webhooks.send_batch(db, b.endpoint_id, b.message_ids, b.token, policy=policy,
                                key=KEY, now=now) for b in batches]


def messages(db, **where) -> list[WebhookMessage]:
    """Messages matching `where`, oldest first."""
    db.expire_all()
    return list(db.scalars(select(WebhookMessage).filter_by(**where).order_by(WebhookMessage.id)))


# -- the three events, end to end ------------------------------------------------------------

def test_each_event_reaches_the_receiver_signed_with_the_api_json(db, make, receiver):
    """A purchase that makes a wallet low, its notification and a finished run: three signed
    messages whose bodies are {type, timestamp, data} with the API's JSON of the object."""
    wallet = make.wallet("100.00", threshold="50.00")
    made = register(db, receiver.url)
    now = utcnow()
    tx = transactions.purchase(db, wallet.id, "electricity", "70.00", now=now).transaction
    with write_transaction(db):
        (nid,) = notify_transaction(db, tx.id, now)
    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    with write_transaction(db):
        task_runs.start(db, run.id, chunks=[], scan_now=now)  # nothing to scan: succeeded
    send_due(db, utcnow())

    (changed,) = receiver.of(made.secret, "wallet.state_changed")
    assert changed["data"]["id"] == wallet.id and changed["data"]["balance"] == "30.00"
    assert (changed["data"]["previous_state"], changed["data"]["state"]) == ("ok", "low")
    assert changed["data"]["unit"]["number"] == wallet.unit.number
    (created,) = receiver.of(made.secret, "notification.created")
    assert created["data"] == notification_json(db.get(Notification, nid))
    assert created["data"]["type"] == "purchase_success"
    (finished,) = receiver.of(made.secret, "task_run.finished")
    db.expire_all()
    assert finished["data"] == task_run_json(db.get(TaskRun, run.id))
    assert finished["data"]["state"] == "succeeded"
    for body in (changed, created, finished):
        assert set(body) == {"type", "timestamp", "data"}
    assert sorted(receiver.ids()) == sorted(f"msg_{m.id}" for m in messages(db))
    assert {m.status for m in messages(db)} == {"delivered"}


def test_a_bad_signature_does_not_verify(db, make, receiver):
    """The receiver's check can fail: another secret refuses the same request."""
    make.wallet("100.00")
    made = register(db, receiver.url, ["task_run.finished"])
    run = task_runs.create_run(db, "analyze_high_usage", "manual")
    with write_transaction(db):
        task_runs.fail(db, run.id, "boom")
    send_due(db, utcnow())
    assert receiver.of(made.secret, "task_run.finished")[0]["data"]["error"] == "boom"
    headers, body = receiver.requests[0]
    with pytest.raises(Exception, match="signature"):
        Webhook(secrets.new_secret()).verify(body, headers)


def test_an_endpoint_gets_only_the_events_it_chose(db, make, receiver):
    """Subscribed to task runs only: a wallet change makes nothing for it."""
    wallet = make.wallet("100.00")
    register(db, receiver.url, ["task_run.finished"])
    transactions.purchase(db, wallet.id, "water", "90.00", now=utcnow())
    assert messages(db) == []


# -- retries, giving up, disabling -------------------------------------------------------------

def test_a_500_is_retried_after_its_backoff_and_delivered_once(db, make):
    """500, then 200: two requests with the same webhook-id, nothing before the backoff step
    has passed and nothing after the 200; both attempts logged."""
    receiver = Receiver(statuses=(500, 200))
    try:
        register(db, receiver.url, ["task_run.finished"])
        run = task_runs.create_run(db, "analyze_high_usage", "manual")
        with write_transaction(db):
            task_runs.fail(db, run.id, "x")
        t0 = utcnow()
        send_due(db, t0)
        (m,) = messages(db)
        assert (m.status, m.attempts, m.last_status_code) == ("pending", 1, 500)
        assert m.next_attempt_at == t0 + timedelta(seconds=5)
        send_due(db, t0 + timedelta(seconds=4))
        assert len(receiver.requests) == 1
        send_due(db, t0 + timedelta(seconds=6))
        send_due(db, t0 + timedelta(hours=2))
        assert len(receiver.requests) == 2 and receiver.ids() == [f"msg_{m.id}"] * 2
        (m,) = messages(db)
        assert (m.status, m.attempts, m.last_status_code) == ("delivered", 2, 200)
        tried = db.scalars(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id)).all()
        assert tried == [500, 200]
    finally:
        receiver.close()


def test_no_answer_is_a_failed_attempt_with_the_reason(db, make):
    """A port nobody listens on: the attempt is logged without a status, with the error."""
    dead = Receiver()
    url = dead.url
    dead.close()
    register(db, url, ["task_run.finished"])
    run = task_runs.create_run(db, "analyze_high_usage", "manual")
    with write_transaction(db):
        task_runs.fail(db, run.id, "x")
    send_due(db, utcnow())
    attempt = db.scalars(select(WebhookAttempt)).one()
    assert attempt.status_code is None and "Connection" in attempt.error


def test_an_endpoint_failing_for_24_hours_is_disabled_and_operators_told(db, make):
    """Always 500, the clock moved from pause to pause: the endpoint is probed once per
    backoff step (not once per message), disabled once 24 h have failed, operators get one
    webhook_disabled notification, and new events make no more messages for it."""
    receiver = Receiver(statuses=(500,))
    try:
        made = register(db, receiver.url, ["task_run.finished"])
        for _ in range(12):  # a backlog of 12 messages
            run = task_runs.create_run(db, "analyze_high_usage", "manual")
            with write_transaction(db):
                task_runs.fail(db, run.id, "x")
        t0 = utcnow()
        now, disabled_at = t0, None
        while now < t0 + timedelta(hours=30):
            send_due(db, now)
            endpoint = db.get(WebhookEndpoint, made.endpoint.id, populate_existing=True)
            if not endpoint.enabled:
                disabled_at = now
                break
            assert endpoint.paused_until <= endpoint.failing_since + webhooks.RETRY_WINDOW
            now = max(endpoint.paused_until, now + timedelta(seconds=1))
        assert disabled_at is not None and disabled_at - t0 >= timedelta(hours=24)
        assert disabled_at - t0 < timedelta(hours=24, minutes=1)
        # The first batch (at most `concurrency` in flight), then one probe per backoff step:
        # not 12 messages at every step.
        rounds = endpoint.failures  # failed rounds: the first batch, then each probe
        assert 2 <= rounds <= 11
        assert len(receiver.requests) <= POLICY.concurrency + rounds - 1
        notes = db.scalars(select(Notification).where(Notification.type == "webhook_disabled")).all()
        assert len(notes) == 1 and notes[0].data["endpoint_id"] == made.endpoint.id
        assert notes[0].priority == "high" and notes[0].wallet_id is None
        assert "failed for 24 hours" in notes[0].message and receiver.url in notes[0].message
        assert "Failed for 24 hours" in endpoint.disabled_reason
        assert {m.status for m in messages(db)} == {"failed"}  # their 24 h are over too
        run = task_runs.create_run(db, "analyze_high_usage", "manual")
        with write_transaction(db):
            task_runs.fail(db, run.id, "after")
        assert len(messages(db)) == 12
        send_due(db, now + timedelta(hours=1))  # disabled: nothing is sent
        assert len(db.scalars(select(Notification).where(
            Notification.type == "webhook_disabled")).all()) == 1
    finally:
        receiver.close()


def test_a_success_clears_the_failing_run(db, make):
    """500 then 200: the endpoint's failing_since and pause are cleared by the 2xx."""
    receiver = Receiver(statuses=(500, 200))
    try:
        made = register(db, receiver.url, ["task_run.finished"])
        run = task_runs.create_run(db, "analyze_high_usage", "manual")
        with write_transaction(db):
            task_runs.fail(db, run.id, "x")
        t0 = utcnow()
        send_due(db, t0)
        endpoint = db.get(WebhookEndpoint, made.endpoint.id, populate_existing=True)
        assert endpoint.failing_since == t0 and endpoint.paused_until == t0 + timedelta(seconds=5)
        send_due(db, t0 + timedelta(seconds=5))
        endpoint = db.get(WebhookEndpoint, made.endpoint.id, populate_existing=True)
        assert endpoint.failing_since is None and endpoint.paused_until is None
    finally:
        receiver.close()


def test_resend_sends_the_same_message_again_now(db, make, receiver):
    """An operator's Resend of a delivered message: a new attempt now, same webhook-id and
    body, logged as a resend."""
    made = register(db, receiver.url, ["task_run.finished"])
    run = task_runs.create_run(db, "analyze_high_usage", "manual")
    with write_transaction(db):
        task_runs.fail(db, run.id, "x")
    send_due(db, utcnow())
    (m,) = messages(db)
    batch = webhooks.resend(db, m.id, utcnow())
    webhooks.send_batch(db, batch.endpoint_id, batch.message_ids, batch.token, policy=POLICY,
                        key=KEY, resend=True)
    assert receiver.ids() == [f"msg_{m.id}"] * 2
    assert receiver.requests[0][1] == receiver.requests[1][1]
    assert [a.resend for a in db.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))] == [
        False, True]
    assert len(receiver.verified(made.secret)) == 2
    webhooks.set_enabled(db, made.endpoint.id, False, utcnow())
    with pytest.raises(Conflict):
        webhooks.resend(db, m.id, utcnow())


def test_a_batch_handed_out_twice_is_sent_once(db, make, receiver):
    """A lease that ran out while its task waited: the second sweep leases the messages
    anew, and the first task, arriving late, sends nothing (its token is stale)."""
    register(db, receiver.url, ["task_run.finished"])
    run = task_runs.create_run(db, "analyze_high_usage", "manual")
    with write_transaction(db):
        task_runs.fail(db, run.id, "x")
    t0 = utcnow()
    (first,) = webhooks.sweep(db, t0).batches
    (second,) = webhooks.sweep(db, t0 + webhooks.LEASE + timedelta(seconds=1)).batches
    for b in (first, second, second):
        webhooks.send_batch(db, b.endpoint_id, b.message_ids, b.token, policy=POLICY, key=KEY)
    assert len(receiver.requests) == 1


# -- set-based creation ------------------------------------------------------------------------

class Statements:
    """Counts the SQL statements run on the engine, by their first words."""

    def __init__(self):
        """Listen on the test engine."""
        self.seen: list[str] = []
        event.listen(get_engine(), "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        """Keep each statement."""
        self.seen.append(" ".join(statement.split()))

    def count(self, prefix: str) -> int:
        """How many statements started with `prefix`."""
        return sum(s.startswith(prefix) for s in self.seen)

    def close(self):
        """Stop listening."""
        event.remove(get_engine(), "before_cursor_execute", self._record)


@pytest.mark.parametrize("n", [60, 300])
def test_a_scan_chunk_makes_one_message_per_notification_in_one_statement(db, make, n):
    """A chunk of n wallets (a third low): one INSERT … SELECT of notification messages
    whatever n, one message per notification, and a chunk redone makes none twice."""
    register(db, "http://127.0.0.1:9/hooks", ["notification.created"])
    factories.bulk_wallets(db, n)
    db.commit()
    first, last = db.execute(select(func.min(Wallet.id), func.max(Wallet.id))).one()
    counter = Statements()
    try:
        with write_transaction(db):
            found = credit_alerts.credit_pass(db, "low_credit", first, last, now=utcnow(),
                                              tz="UTC")
    finally:
        counter.close()
    assert found.notified == n // 3
    # One statement per hook whatever n: the state refresh's (no subscriber here) and the
    # notifications'.
    assert counter.count("INSERT INTO webhook_messages") == 2
    made = messages(db)
    assert sorted(m.object_id for m in made) == sorted(found.notification_ids)
    assert {m.event for m in made} == {"notification.created"}
    webhooks.notifications_created(db, first_id=min(found.notification_ids),
                                   last_id=max(found.notification_ids), now=utcnow())
    db.commit()
    assert len(messages(db)) == n // 3


def test_a_scan_refresh_of_states_is_one_statement_with_the_states(db, make):
    """Wallets whose stored state is stale: one INSERT … SELECT records each change with its
    previous and new state before the UPDATE that makes it."""
    register(db, "http://127.0.0.1:9/hooks", ["wallet.state_changed"])
    stale = [make.wallet("5.00", threshold="50.00", state="ok"),
             make.wallet("40.00", threshold="50.00", state="critical"),
             make.wallet("500.00", threshold="50.00", state="ok")]
    counter = Statements()
    try:
        with write_transaction(db):
            changed = credit_alerts.refresh_states(
                db, Wallet.__table__.c.id.in_([w.id for w in stale]), utcnow())
    finally:
        counter.close()
    assert changed == 2 and counter.count("INSERT INTO webhook_messages") == 1
    assert {(m.object_id, m.previous_state, m.state) for m in messages(db)} == {
        (stale[0].id, "ok", "critical"), (stale[1].id, "critical", "low")}


def test_a_hook_is_one_statement_and_writes_nothing_without_subscribers(db, make):
    """A purchase that changes a wallet's state, without endpoints: one INSERT … SELECT
    (its guard finds no subscriber) and no message; a disabled endpoint gets none either."""
    wallet = make.wallet("100.00")
    made = register(db, "http://127.0.0.1:9/hooks", ["wallet.state_changed"])
    webhooks.set_enabled(db, made.endpoint.id, False, utcnow())
    counter = Statements()
    try:
        transactions.purchase(db, wallet.id, "water", "90.00", now=utcnow())
    finally:
        counter.close()
    assert counter.count("INSERT INTO webhook_messages") == 1 and messages(db) == []
    assert db.get(Wallet, wallet.id, populate_existing=True).state == "low"


# -- secrets and addresses ---------------------------------------------------------------------

def test_the_secret_is_sealed_and_only_the_key_opens_it(db, make):
    """The stored value does not contain the secret; the right key unseals it, another
    refuses."""
    made = register(db, "http://127.0.0.1:9/hooks")
    stored = db.get(WebhookEndpoint, made.endpoint.id).secret_sealed
    assert made.secret.startswith("whsec_") and made.secret not in stored
    assert made.secret[6:] not in stored
    assert secrets.unseal(stored, KEY) == made.secret
    with pytest.raises(ValueError):
        secrets.unseal(stored, "another key")


PRODUCTION = webhooks.UrlRules(https_only=True, allow_private=False)


@pytest.mark.parametrize("url,rules,ok", [
    ("https://crm.example.com/hooks?x=1", PRODUCTION, True),
    ("http://crm.example.com/hooks", PRODUCTION, False),
    ("https://10.0.0.5/hooks", PRODUCTION, False),
    ("https://127.0.0.1/hooks", PRODUCTION, False),
    ("https://[::1]/hooks", PRODUCTION, False),
    ("https://localhost/hooks", PRODUCTION, False),
    ("https://printer.local/x", PRODUCTION, False),
    ("https://169.254.169.254/latest", PRODUCTION, False),
    ("http://127.0.0.1:8080/hooks", webhooks.UrlRules(), True),
    ("http://localhost:8080/hooks", webhooks.UrlRules(), True),
    ("ftp://crm.example.com/", webhooks.UrlRules(), False),
    ("https://user:pw@crm.example.com/", webhooks.UrlRules(), False),
    ("https://crm.example.com:99999/", webhooks.UrlRules(), False),
    ("http://[::1/x", webhooks.UrlRules(), False),
    ("http://crm.example.com:0/", webhooks.UrlRules(), False),
    ("https://crm example.com/", webhooks.UrlRules(), False),
    ("https://crm.example.com/", LOOPBACK, False),
    ("http://127.0.0.1:5/", LOOPBACK, True),
])
def test_url_rules(url, rules, ok):
    """http(s) only; production: https, no private, loopback, local or link-local address;
    an allow-list narrows the hosts."""
    try:
        webhooks.check_url(url, rules)
        accepted = True
    except ValidationFailed as exc:
        accepted = False
        assert exc.fields["url"]
    assert accepted is ok


def test_a_send_that_connects_to_a_private_address_is_refused(receiver):
    """The connection's real peer is checked: with private addresses off, a request that
    reaches loopback is refused before anything is sent."""
    guarded = http.client(allow_private=False, pool_size=1)
    answer = http.post(guarded, receiver.url, "{}", {}, 5)
    assert answer.status_code is None and "private or local" in answer.error
    assert receiver.requests == []
    allowed = http.client(allow_private=True, pool_size=1)
    assert http.post(allowed, receiver.url, "{}", {}, 5).ok


def test_settings_and_bulk_changes_report_the_states_they_change(db, make):
    """A wallet's own settings (one wallet) and a bulk change (one INSERT … SELECT before
    its UPDATE) make a wallet.state_changed per wallet whose state moves, none otherwise."""
    from dashboard.services.wallets import estates, settings

    register(db, "http://127.0.0.1:9/hooks", ["wallet.state_changed"])
    estate = make.estate()
    moved = make.wallet("40.00", threshold="50.00", estate_obj=estate)  # low
    still = make.wallet("500.00", threshold="50.00", estate_obj=estate)  # ok, stays ok
    wallet = db.get(Wallet, moved.id)
    settings.update_settings(db, moved.id, settings.validate_settings(
        wallet, {"low_balance_threshold": "30.00"}), utcnow())  # low → ok
    assert [(m.object_id, m.previous_state, m.state) for m in messages(db)] == [
        (moved.id, "low", "ok")]
    change = estates.parse_bulk_change(db, {"estate_id": str(estate.id), "scope": "all",
                                            "low_balance_threshold": "300.00"})
    counter = Statements()
    try:
        estates.apply(db, change, utcnow())
    finally:
        counter.close()
    assert counter.count("INSERT INTO webhook_messages") == 1
    assert [(m.object_id, m.previous_state, m.state) for m in messages(db)][1:] == [
        (moved.id, "ok", "critical")]
    assert still.id not in {m.object_id for m in messages(db)}
