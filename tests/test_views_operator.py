"""Operator pages: page or fragment, Vary, roles, forms (errors shown, nothing saved), actions.

Mirrors dashboard/views/{overview,wallets,scans,notifications_log,thresholds}.py.
"""
from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from dashboard import dispatch
from dashboard.db import get_engine
from dashboard.models import Estate, Notification, TaskRun, Transaction, Wallet, utcnow
from dashboard.services import notifications
from dashboard.services.ops import health
from tests import factories
from tests.conftest import Auth

PASSWORD = "correct-horse-battery"


@pytest.fixture
def world(app, db):
    """An estate with an ok, a low and a critical wallet, a resident, a run and a notice.

    Made with the factories on one session and committed once (each commit is a disk sync).
    """
    estate = factories.estate(db, name="Acacia Park")
    ok = factories.wallet(db, "100.00", estate_obj=estate, meters=True)
    low = factories.wallet(db, "30.00", estate_obj=estate)
    critical = factories.wallet(db, "5.00", estate_obj=estate)
    resident = factories.resident(db, low, email="res@example.test", name=("Lindiwe", "Dube"))
    factories.user(db, "operator", email="op@example.test")
    factories.user(db, "viewer", email="viewer@example.test")
    run = TaskRun(task="check_low_credit_wallets", trigger="manual", state="succeeded",
                  queued_at=utcnow(), started_at=utcnow(), finished_at=utcnow(), scanned=3,
                  notified=1)
    db.add(run)
    db.flush()
    notifications.store(db, [notifications.notification_row(
        "low_credit", "Your credit is running low", "Unit of Acacia Park is low.",
        dedup_key="t:1", now=utcnow(), wallet_id=low.id, task_run_id=run.id)])
    db.commit()
    return {"estate": estate.id, "ok": ok.id, "low": low.id, "critical": critical.id,
            "run": run.id, "resident": resident.id}

# The log's date filter is a day in CELERY_TIMEZONE, not in UTC.
LOCAL = ZoneInfo("Africa/Johannesburg")


def client_for(app, email=None):
    """A test client signed in as `email` (anonymous when None), with its CSRF token."""
    auth = Auth(app.test_client())
    if email:
        assert auth.login(email, PASSWORD).status_code == 302
    else:
        auth.csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                              auth.client.get("/login").get_data(as_text=True)).group(1)
    return auth


@pytest.fixture
def operator(app, world):
    """An operator's client."""
    return client_for(app, "op@example.test")


@pytest.fixture
def viewer(app, world):
    """A viewer's client."""
    return client_for(app, "viewer@example.test")


HX = {"HX-Request": "true"}
# url template -> has a fragment of its own for htmx
PAGES = {
    "/": False, "/feed": True, "/overview/states": True, "/overview/today": True,
    "/overview/scans": True, "/overview/health": True, "/wallets": True,
    "/wallets/{ok}": False, "/wallets/{ok}/summary": True, "/wallets/{ok}/transactions": True,
    "/wallets/{ok}/notifications": True, "/scans": False,
    "/scans/check_low_credit_wallets": True, "/scans/history": True, "/scans/runs/{run}": True,
    "/notifications": True, "/thresholds": False, "/thresholds/estates/{estate}": True,
}
ACTIONS = {
    "/wallets/{low}/settings": {"low_balance_threshold": "10.00", "alert_mode": "amount",
                                "low_balance_days": "3", "alert_frequency_hours": "24"},
    "/wallets/{low}/settings/preview": {"low_balance_threshold": "10.00"},
    "/wallets/{low}/topups": {"amount": "10.00", "method": "cash", "idempotency_key": "k1"},
    "/wallets/{low}/purchases": {"amount": "10.00", "utility": "water",
                                 "idempotency_key": "k2"},
    "/wallets/{low}/purchases/preview": {"amount": "10.00", "utility": "water"},
    "/scans/check_low_credit_wallets/run": {},
    "/thresholds/preview": {"estate_id": "all", "low_balance_threshold": "999.00"},
    "/thresholds/apply": {"estate_id": "all", "low_balance_threshold": "999.00"},
    "/thresholds/estates/{estate}": {"low_balance_threshold": "1.00"},
}


def is_page(html: str) -> bool:
    """A whole document rather than a fragment."""
    return "<html" in html and "</body>" in html


# The role matrix loops inside a test per role (with subtests naming each URL): every test
# here pays for a fresh database, and one per URL and role would cost a minute and a half.

def test_operator_gets_page_and_htmx_gets_fragment(operator, world, subtests):
    for url, has_fragment in PAGES.items():
        with subtests.test(url=url):
            url = url.format(**world)
            page = operator.client.get(url)
            assert page.status_code == 200 and is_page(page.get_data(as_text=True))
            assert "HX-Request" in page.headers.get("Vary", "")
            fragment = operator.client.get(url, headers=HX)
            assert fragment.status_code == 200
            assert is_page(fragment.get_data(as_text=True)) is not has_fragment
            assert "HX-Request" in fragment.headers.get("Vary", "")


def test_history_restore_gets_the_page(operator):
    response = operator.client.get("/wallets", headers={**HX, "HX-History-Restore-Request": "true"})
    assert is_page(response.get_data(as_text=True))


def test_viewer_sees_every_page_without_action_buttons(viewer, world, subtests):
    for url in PAGES:
        with subtests.test(url=url):
            response = viewer.client.get(url.format(**world))
            html = response.get_data(as_text=True)
            assert response.status_code == 200
            for button in ("Run now", ">Top up<", ">Buy<", "Save settings", ">Apply<",
                           "Save defaults"):
                assert button not in html
            assert set(re.findall(r'<form method="post" action="([^"]+)"', html)) == {"/logout"}


def test_resident_gets_404_and_anonymous_is_sent_to_sign_in(app, world, subtests):
    resident = client_for(app, "res@example.test")
    for url in PAGES:
        with subtests.test(url=url):
            url = url.format(**world)
            assert resident.client.get(url).status_code == 404
            anonymous = app.test_client().get(url)
            assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_viewer_actions_are_refused_and_change_nothing(viewer, world, db, subtests):
    before = _snapshot(db)
    for url, data in ACTIONS.items():
        with subtests.test(url=url):
            response = viewer.client.post(url.format(**world),
                                          data={**data, "csrf_token": viewer.csrf}, headers=HX)
            assert response.status_code == 403
    assert _snapshot(db) == before


def test_resident_and_anonymous_actions_are_refused(app, world, db, subtests):
    before = _snapshot(db)
    resident, anonymous = client_for(app, "res@example.test"), client_for(app)
    for url, data in ACTIONS.items():
        with subtests.test(url=url):
            url = url.format(**world)
            assert resident.client.post(url, data={**data, "csrf_token": resident.csrf}
                                        ).status_code == 404
            assert anonymous.client.post(url, data={**data, "csrf_token": anonymous.csrf}
                                         ).status_code == 302
    assert _snapshot(db) == before


def _snapshot(db):
    """What an action could change: wallets, estates, transactions, runs."""
    db.rollback()
    wallets = db.execute(select(Wallet.id, Wallet.balance, Wallet.low_balance_threshold,
                                Wallet.state).order_by(Wallet.id)).all()
    estates = db.execute(select(Estate.id, Estate.default_low_balance_threshold)).all()
    counts = (db.query(Transaction).count(), db.query(TaskRun).count())
    return wallets, estates, counts


# -- overview ---------------------------------------------------------------------------------

def test_overview_shows_states_today_scans_health_and_the_live_feed(operator):
    html = operator.client.get("/").get_data(as_text=True)
    assert re.search(r'state-low">low</span> wallets</span>\s*<span class="stat-value">1<', html)
    assert 'aria-label="Live notifications"' in html
    # One refresh per notification, or per scan chunk (a scan sends operators a batch).
    assert ('hx-trigger="notification-created from:body throttle:1s, '
            'notifications-batch from:body throttle:1s"') in html
    assert "Your credit is running low" in html
    assert "check_low_credit_wallets" in html and "Daily at 06:00" in html
    for name in ("Redis", "Beat", "Worker"):
        assert f"<dt>{name}</dt>" in html


def test_health_answers_fast_when_redis_is_down(app, operator):
    app.config.update(REDIS_URL="redis://127.0.0.1:9/0", CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    started = time.perf_counter()
    html = operator.client.get("/overview/health", headers=HX).get_data(as_text=True)
    assert time.perf_counter() - started < 1.5
    assert "state-critical\">down</span>" in html  # Redis
    assert html.count('state-low">unknown</span>') == 2  # beat and worker cannot be asked


def test_beat_is_down_without_a_lock_and_up_with_one(app, redis_url):
    client = health.health_redis(redis_url)
    channel = "health-test"
    now = utcnow()
    assert health.check_beat(client, channel, now).state == "down"
    client.set(health.beat_key_prefix(channel) + ":lock", "x", px=5000)
    # RedBeat's own JSON encoding of the last run of the per-minute entry.
    meta = json.dumps({"last_run_at": {
        "__type__": "datetime", "year": now.year, "month": now.month, "day": now.day,
        "hour": now.hour, "minute": now.minute, "second": 0, "microsecond": 0,
        "timezone": "UTC"}})
    client.hset(health.beat_key_prefix(channel) + health.BEAT_TICK_ENTRY, "meta", meta)
    assert health.check_beat(client, channel, now + timedelta(seconds=30)).state == "up"
    assert health.check_beat(client, channel, now + timedelta(minutes=10)).state == "stalled"


# -- wallets list -----------------------------------------------------------------------------

def test_wallet_list_filters_searches_and_pages_without_counting(app, operator, world, make):
    for _ in range(4):
        make.wallet("20.00", estate_obj=make.estate(name=f"Other {_}"))
    statements = []
    listener = lambda *args: statements.append(args[2])
    event.listen(get_engine(), "before_cursor_execute", listener)
    try:
        html = operator.client.get("/wallets?state=low&limit=2", headers=HX).get_data(as_text=True)
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    assert html.count('class="state-low"') == 2
    assert not any("count(" in sql.lower() for sql in statements)
    cursor = re.search(r'href="/wallets\?[^"]*cursor=([^"&]+)', html).group(1)
    second = operator.client.get(f"/wallets?state=low&limit=2&cursor={cursor}").get_data(
        as_text=True)
    assert second.count('class="state-low"') == 2
    searched = operator.client.get("/wallets?q=Lindiwe", headers=HX).get_data(as_text=True)
    assert "Acacia Park" in searched and searched.count("<tr>") == 2  # header row + one


def test_wallet_list_sorts_by_balance(operator, world):
    html = operator.client.get("/wallets?sort=-balance", headers=HX).get_data(as_text=True)
    balances = re.findall(r'<td class="num">(R [\d,.]+)</td>\s*<td><span class="state', html)
    assert balances[:3] == ["R 100.00", "R 30.00", "R 5.00"]


@pytest.mark.parametrize("common", [True, False])
def test_wallet_search_by_balance_follows_next_links_through_ties(operator, world, make,
                                                                   monkeypatch, common):
    """A name search sorted by balance, two rows a page, lists every matching wallet once in
    order across equal balances, whether it walks wallets or collects matches by index."""
    from dashboard.services.wallets import search as wallet_service

    monkeypatch.setattr(wallet_service, "_is_common", lambda session, terms: common)
    estate = make.estate(name="Baobab Court")
    named = []
    for amount in ("30.00", "30.00", "80.00", "30.00", "5.00", "80.00", "30.00"):
        w = make.wallet(amount, estate_obj=estate)
        make.resident(w, name=("Lindiwe", "Khumalo"))
        named.append((Decimal(amount), w.id))
    make.wallet("30.00", estate_obj=estate)  # nobody called Lindiwe lives here
    named.append((Decimal("30.00"), world["low"]))  # Lindiwe Dube
    for sort, descending in (("balance", False), ("-balance", True)):
        seen, url = [], f"/wallets?q=lindiwe&sort={sort}&limit=2"
        while url:
            html = operator.client.get(url, headers=HX).get_data(as_text=True)
            seen += [int(i) for i in re.findall(r'<td><a href="/wallets/(\d+)">', html)]
            link = re.search(r'rel="next" href="([^"]+)"', html)
            url = link.group(1).replace("&amp;", "&") if link else None
        assert seen == [i for _, i in sorted(named, reverse=descending)], sort


# -- alert settings ---------------------------------------------------------------------------

def _settings(threshold, mode="amount", days="3", hours="24"):
    """The settings form fields."""
    return {"low_balance_threshold": threshold, "alert_mode": mode, "low_balance_days": days,
            "alert_frequency_hours": hours}


def test_invalid_settings_show_errors_beside_fields_and_save_nothing(operator, world, db):
    url = f"/wallets/{world['low']}/settings"
    data = {**_settings("12,50", days="0"), "csrf_token": operator.csrf}
    fragment = operator.client.post(url, data=data, headers=HX)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 422 and not is_page(html)
    assert 'id="low_balance_threshold-error">Enter an amount in rand' in html
    assert 'aria-describedby="low_balance_days-error"' in html and 'value="12,50"' in html
    page = operator.client.post(url, data=data)
    assert page.status_code == 422 and is_page(page.get_data(as_text=True))
    db.rollback()
    assert db.get(Wallet, world["low"]).low_balance_threshold == Decimal("50.00")


def test_valid_settings_are_saved_in_place(operator, world, db):
    url = f"/wallets/{world['low']}/settings"
    response = operator.client.post(url, data={**_settings("20.00"), "csrf_token": operator.csrf},
                                    headers=HX)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "wallet-updated"
    assert "The wallet is ok" in response.get_data(as_text=True)
    db.rollback()
    wallet = db.get(Wallet, world["low"])
    assert (wallet.low_balance_threshold, wallet.state) == (Decimal("20.00"), "ok")
    plain = operator.client.post(url, data={**_settings("40.00"), "csrf_token": operator.csrf})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/wallets/{world['low']}")


def test_settings_preview_names_the_state_and_saves_nothing(operator, world, db):
    url = f"/wallets/{world['low']}/settings/preview"
    html = operator.client.post(url, data={**_settings("200.00"), "csrf_token": operator.csrf},
                                headers=HX).get_data(as_text=True)
    assert 'would be <span class="state-critical">critical</span>' in html
    db.rollback()
    assert db.get(Wallet, world["low"]).low_balance_threshold == Decimal("50.00")


# -- top up and buy ---------------------------------------------------------------------------

def test_top_up_form_has_a_key_and_a_double_submit_pays_once(operator, world, db, monkeypatch):
    queued = []
    monkeypatch.setattr(dispatch, "after_transaction", queued.append)
    page = operator.client.get(f"/wallets/{world['low']}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page).group(1)
    assert 'data-confirm="Top up this wallet?' in page and ">Top up</button>" in page
    data = {"amount": "70.00", "method": "eft", "idempotency_key": key,
            "csrf_token": operator.csrf}
    first = operator.client.post(f"/wallets/{world['low']}/topups", data=data, headers=HX)
    second = operator.client.post(f"/wallets/{world['low']}/topups", data=data, headers=HX)
    assert "Topped up R 70.00" in first.get_data(as_text=True)
    assert "nothing was charged twice" in second.get_data(as_text=True)
    assert first.headers["HX-Trigger"] == "wallet-updated"
    db.rollback()
    assert db.get(Wallet, world["low"]).balance == Decimal("100.00")
    assert db.query(Transaction).filter_by(wallet_id=world["low"]).count() == 1
    assert len(queued) == 1


def test_purchase_beyond_the_balance_is_refused_beside_the_amount(operator, world, db):
    data = {"amount": "500.00", "utility": "electricity", "idempotency_key": "buy-1",
            "csrf_token": operator.csrf}
    response = operator.client.post(f"/wallets/{world['low']}/purchases", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="buy-amount-error">The most you can spend' in html
    db.rollback()
    assert db.get(Wallet, world["low"]).balance == Decimal("30.00")


def test_purchase_shows_the_units_it_gives(operator, world, monkeypatch):
    monkeypatch.setattr(dispatch, "after_transaction", lambda tx: True)
    quote = operator.client.post(f"/wallets/{world['low']}/purchases/preview", headers=HX, data={
        "amount": "25.00", "utility": "electricity", "csrf_token": operator.csrf})
    assert "<strong>10.000 kWh</strong>" in quote.get_data(as_text=True)
    bought = operator.client.post(f"/wallets/{world['low']}/purchases", headers=HX, data={
        "amount": "25.00", "utility": "electricity", "idempotency_key": "buy-2",
        "csrf_token": operator.csrf})
    assert "Bought 10.000 kWh of electricity for R 25.00" in bought.get_data(as_text=True)
    plain = operator.client.post(f"/wallets/{world['low']}/purchases", data={
        "amount": "1.00", "utility": "water", "idempotency_key": "buy-3",
        "csrf_token": operator.csrf})
    assert plain.status_code == 303


def test_wallet_page_shows_balances_ledger_chart_and_notifications(operator, world):
    html = operator.client.get(f"/wallets/{world['low']}").get_data(as_text=True)
    for text in ("Credit bought per utility", "Hot water", "Lindiwe Dube", "Transactions",
                 "Usage, last 30 days", "Your credit is running low",
                 f'href="/scans/runs/{world["run"]}"'):
        assert text in html


# -- scans ------------------------------------------------------------------------------------

def test_run_now_queues_disables_the_button_and_refuses_a_second(operator, world, monkeypatch,
                                                                 db):
    sent = []
    monkeypatch.setattr(dispatch, "send", lambda name, **kw: sent.append(name) or "celery-id")
    url = "/scans/check_low_credit_wallets/run"
    first = operator.client.post(url, data={"csrf_token": operator.csrf}, headers=HX)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and sent == ["check_low_credit_wallets"]
    assert re.search(r'<button type="submit" class="btn btn-primary" disabled[^>]*>Run now', html)
    run_id = db.scalar(select(TaskRun.id).order_by(TaskRun.id.desc()))
    assert f'<progress data-task-run-id="{run_id}"' in html
    again = operator.client.post(url, data={"csrf_token": operator.csrf}, headers=HX)
    assert again.status_code == 409 and "already queued" in again.get_json()["error"]["message"]
    assert again.headers["HX-Trigger"] == "task-run-updated"
    page = operator.client.post(url, data={"csrf_token": operator.csrf})
    assert page.status_code == 409 and "already queued" in page.get_data(as_text=True)
    assert len(sent) == 1


def test_history_filters_by_task_state_and_trigger(operator, world, db):
    db.add(TaskRun(task="analyze_high_usage", trigger="schedule", state="failed",
                   queued_at=utcnow(), error="Boom: the meter table is locked"))
    db.commit()
    failed = operator.client.get("/scans/history?state=failed", headers=HX).get_data(as_text=True)
    assert "Boom: the meter table is locked" in failed and "check_low_credit" not in failed
    by_task = operator.client.get("/scans/history?task=check_low_credit_wallets&trigger=manual",
                                  headers=HX).get_data(as_text=True)
    assert "check_low_credit_wallets" in by_task and "analyze_high_usage</td>" not in by_task
    assert operator.client.get("/scans/history?state=nope").status_code == 422
    assert operator.client.get("/scans/nope").status_code == 404


# -- notifications log ------------------------------------------------------------------------

def test_log_filters_and_links_each_notification_to_its_wallet_and_run(operator, world, db):
    notifications.store(db, [notifications.notification_row(
        "topup_success", "Top-up received", "R 10.00 was added.", dedup_key="t:2",
        now=utcnow() - timedelta(days=3), wallet_id=world["ok"])])
    db.commit()
    html = operator.client.get("/notifications?type=low_credit", headers=HX).get_data(as_text=True)
    assert "Your credit is running low" in html and "Top-up received" not in html
    assert f'href="/wallets/{world["low"]}"' in html
    assert f'href="/scans/runs/{world["run"]}"' in html
    assert "0 of 1" in html  # one resident, unread
    for query, expect_low, expect_topup in [
            ("priority=normal", False, True), ("read=unread", True, False),
            (f"estate={world['estate']}", True, True), ("q=running", True, False),
            (f"date={utcnow().astimezone(LOCAL).date().isoformat()}", True, False),
            ("read=none", False, True)]:
        html = operator.client.get(f"/notifications?{query}", headers=HX).get_data(as_text=True)
        assert ("Your credit is running low" in html) is expect_low, query
        assert ("Top-up received" in html) is expect_topup, query
    bad = operator.client.get("/notifications?date=31-12-2025")
    assert bad.status_code == 422 and 'id="log-date-error"' in bad.get_data(as_text=True)


def test_log_pages_by_id(operator, world, db):
    notifications.store(db, [notifications.notification_row(
        "high_usage", f"High use {i}", "More than usual.", dedup_key=f"h:{i}", now=utcnow(),
        wallet_id=world["ok"]) for i in range(30)])
    db.commit()
    first = operator.client.get("/notifications", headers=HX).get_data(as_text=True)
    before = re.search(r'href="/notifications\?before=(\d+)"', first).group(1)
    second = operator.client.get(f"/notifications?before={before}", headers=HX).get_data(
        as_text=True)
    newest = db.scalar(select(Notification.id).order_by(Notification.id.desc()))
    assert f'id="notification-{newest}"' in first and f'id="notification-{newest}"' not in second
    assert "Your credit is running low" in second


# -- thresholds -------------------------------------------------------------------------------

def test_bulk_preview_counts_the_states_it_would_move(operator, world):
    data = {"estate_id": str(world["estate"]), "low_balance_threshold": "150.00",
            "csrf_token": operator.csrf}
    html = operator.client.post("/thresholds/preview", data=data, headers=HX).get_data(
        as_text=True)
    # ok (R100) -> low; low (R30) -> low; critical (R5) -> critical
    assert "applies to 3 wallets" in html and "This would put 1 wallet into low" in html


def test_bulk_apply_is_one_update_whatever_the_number_of_wallets(app, operator, world, make, db):
    for _ in range(20):
        make.wallet("80.00", estate_obj=db.get(Estate, world["estate"]))
    statements = []
    listener = lambda *args: statements.append(args[2])
    event.listen(get_engine(), "before_cursor_execute", listener)
    try:
        response = operator.client.post("/thresholds/apply", data={
            "estate_id": str(world["estate"]), "low_balance_threshold": "90.00",
            "make_default": "1", "csrf_token": operator.csrf})
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    assert response.status_code == 303
    assert sum(sql.lstrip().upper().startswith("UPDATE WALLETS") for sql in statements) == 1
    db.rollback()
    wallets = db.scalars(select(Wallet).where(Wallet.id.in_(
        [world["ok"], world["low"], world["critical"]])).order_by(Wallet.id)).all()
    assert [w.state for w in wallets] == ["ok", "low", "critical"]
    assert all(w.low_balance_threshold == Decimal("90.00") for w in wallets)
    assert db.get(Estate, world["estate"]).default_low_balance_threshold == Decimal("90.00")
    flashed = operator.client.get("/thresholds").get_data(as_text=True)
    assert "Saved for 23 wallets" in flashed and "moved 20 wallets into low" in flashed


def test_bulk_apply_with_bad_values_saves_nothing(operator, world, db):
    before = _snapshot(db)
    response = operator.client.post("/thresholds/apply", data={
        "estate_id": "all", "low_balance_threshold": "-5", "csrf_token": operator.csrf})
    assert response.status_code == 422
    assert 'id="bulk-low_balance_threshold-error"' in response.get_data(as_text=True)
    empty = operator.client.post("/thresholds/apply", data={"csrf_token": operator.csrf})
    assert "Enter at least one setting" in empty.get_data(as_text=True)
    assert _snapshot(db) == before


def test_estate_defaults_refuse_a_range_upside_down_then_save(operator, world, db):
    url = f"/thresholds/estates/{world['estate']}"
    form = {"low_balance_threshold": "75.00", "alert_mode": "days", "low_balance_days": "5",
            "alert_frequency_hours": "12", "min_low_balance_threshold": "100.00",
            "max_low_balance_threshold": "10.00", "csrf_token": operator.csrf}
    bad = operator.client.post(url, data=form, headers=HX)
    assert bad.status_code == 422
    assert 'id="estate-max_low_balance_threshold-error"' in bad.get_data(as_text=True)
    db.rollback()
    assert db.get(Estate, world["estate"]).default_low_balance_threshold == Decimal("50.00")
    good = operator.client.post(url, data={**form, "min_low_balance_threshold": "5.00"},
                                headers=HX)
    assert good.status_code == 200 and "Defaults of Acacia Park saved" in good.get_data(
        as_text=True)
    db.rollback()
    estate = db.get(Estate, world["estate"])
    assert (estate.default_low_balance_threshold, estate.default_alert_mode,
            estate.min_low_balance_threshold) == (Decimal("75.00"), "days", Decimal("5.00"))


def test_forged_cursors_on_the_wallet_page_are_refused_not_500(operator):
    """The HTML list decodes its cursor like the API: a forged one is a 4xx, never SQL."""
    from tests.test_api_wallets import FORGED_CURSORS, cursor_of

    for values in FORGED_CURSORS:
        for sort in ("id", "balance", "-balance"):
            r = operator.client.get(f"/wallets?sort={sort}&cursor={cursor_of(values)}")
            assert 400 <= r.status_code < 500, (values, sort, r.status_code)
