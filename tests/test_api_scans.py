"""The scans API: schedule and next run in local time, Run now, and the task-run history."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import redis

from dashboard.models import TaskRun
from tests import factories
from tests.conftest import private_broker_url

SCANS = ["check_low_credit_wallets", "check_critical_credit_wallets", "analyze_high_usage",
         "send_operator_digests", "check_silent_meters"]






@pytest.fixture
def op(db, client):
    """Operator bearer headers."""
    return factories.operator_and_token(db, client)


def resident_headers(client, make):
    """Bearer headers of a resident."""
    w = make.wallet()
    u = make.resident(w)
    r = client.post("/api/v1/auth/token", json={"email": u.email,
                                                "password": "correct-horse-battery"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_scans_list_schedule_and_local_next_run(client, op):
    """Every scan, each with its schedule in words and next_run_at in +02:00 local time."""
    r = client.get("/api/v1/scans", headers=op)
    assert r.status_code == 200
    scans = {s["name"]: s for s in r.get_json()}
    assert list(scans) == SCANS
    now = datetime.now(timezone.utc)
    local_hours = {"check_low_credit_wallets": {6}, "analyze_high_usage": {7},
                   "check_critical_credit_wallets": {0, 4, 8, 12, 16, 20},
                   "send_operator_digests": {7}, "check_silent_meters": {8}}
    minutes = {"send_operator_digests": 30}
    for name, scan in scans.items():
        assert scan["schedule"] and scan["last_run"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+02:00", scan["next_run_at"]), scan
        at = datetime.fromisoformat(scan["next_run_at"])
        assert at.hour in local_hours[name] and at.minute == minutes.get(name, 0)
        limit = timedelta(hours=4) if name == "check_critical_credit_wallets" else \
            timedelta(hours=24)
        assert now < at <= now + limit


def test_run_now_queues_a_task_run_and_its_task(client, db, op, redis_url):
    """202 {task_run} queued by the operator; the Celery task carries the run's id."""
    broker = redis.Redis.from_url(private_broker_url(redis_url))
    broker.delete("notifications")
    r = client.post("/api/v1/scans/analyze_high_usage/run", headers=op)
    assert r.status_code == 202, r.get_json()
    run = r.get_json()["task_run"]
    assert (run["task"], run["state"], run["trigger"]) == ("analyze_high_usage", "queued",
                                                           "manual")
    assert run["who"].endswith("@example.test") and run["queued_at"]
    assert run["result"] == {"scanned": 0, "notified": 0, "skipped": 0}
    (raw,) = broker.lrange("notifications", 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["task"] == "analyze_high_usage"
    assert f"'task_run_id': {run['id']}" in headers["kwargsrepr"]
    stored = db.get(TaskRun, run["id"])
    assert stored.celery_id == headers["id"]
    # GET /scans now shows it as the last run.
    scans = {s["name"]: s for s in client.get("/api/v1/scans", headers=op).get_json()}
    assert scans["analyze_high_usage"]["last_run"]["id"] == run["id"]
    assert scans["analyze_high_usage"]["running"] is True


def test_second_run_now_while_one_is_queued_is_409(client, op):
    """Run now twice: the second is 409 naming the active run; other scans are not blocked."""
    first = client.post("/api/v1/scans/check_low_credit_wallets/run", headers=op)
    second = client.post("/api/v1/scans/check_low_credit_wallets/run", headers=op)
    assert first.status_code == 202 and second.status_code == 409
    err = second.get_json()["error"]
    assert err["code"] == "scan_running"
    assert err["fields"]["task_run_id"] == str(first.get_json()["task_run"]["id"])
    assert client.post("/api/v1/scans/analyze_high_usage/run", headers=op).status_code == 202


def test_run_now_roles_and_names(client, db, make, op):
    """Viewers get 403, residents 404, unknown scans 404; nothing is queued for them."""
    viewer = factories.operator_and_token(db, client, role="viewer")
    resident = resident_headers(client, make)
    assert client.post("/api/v1/scans/analyze_high_usage/run", headers=viewer).status_code == 403
    assert client.post("/api/v1/scans/analyze_high_usage/run",
                       headers=resident).status_code == 404
    r = client.post("/api/v1/scans/drop_everything/run", headers=op)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/scans", headers=viewer).status_code == 200
    assert client.get("/api/v1/scans", headers=resident).status_code == 404
    assert client.get("/api/v1/task-runs", headers=resident).status_code == 404
    assert db.query(TaskRun).count() == 0


def test_run_now_with_the_broker_down_is_503_and_the_run_failed(db_url, redis_url, make):
    """No broker: 503, the run is recorded as failed with the reason, and does not block."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config

    app = create_app("testing", **app_config(db_url, redis_url,
                                             CELERY_BROKER_URL="redis://127.0.0.1:9/0"))
    client = app.test_client()
    headers = factories.operator_and_token(Session, client)
    r = client.post("/api/v1/scans/check_low_credit_wallets/run", headers=headers)
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "unavailable"
    run = Session.query(TaskRun).one()
    assert run.state == "failed" and "Could not queue" in run.error
    assert client.post("/api/v1/scans/check_low_credit_wallets/run",
                       headers=headers).status_code == 503  # not 409: the failed run is done
    Session.remove()


def test_run_now_reaps_with_the_apps_own_stale_limit(db_url, redis_url):
    """TASK_RUN_STALE_SECONDS given to create_app is the one Run now reaps with: a run silent
    for 30 s blocks nothing when the app says 5 s (it is failed and a new one queued), and is
    left alone under the 600 s default."""
    from datetime import timedelta

    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config

    def silent_run():
        """A running run whose last heartbeat is 30 s old; its id."""
        now = datetime.now(timezone.utc)
        run = TaskRun(task="analyze_high_usage", trigger="schedule", state="running",
                      queued_at=now, started_at=now, heartbeat_at=now - timedelta(seconds=30))
        Session.add(run)
        Session.commit()
        return run.id

    settings = app_config(db_url, redis_url, CELERY_BROKER_URL=private_broker_url(redis_url))
    default = create_app("testing", **settings).test_client()
    headers = factories.operator_and_token(Session, default)
    old = silent_run()
    assert default.post("/api/v1/scans/analyze_high_usage/run",
                        headers=headers).status_code == 409
    strict = create_app("testing", **settings, TASK_RUN_STALE_SECONDS=5).test_client()
    r = strict.post("/api/v1/scans/analyze_high_usage/run", headers=headers)
    assert r.status_code == 202, r.get_json()
    reaped = Session.get(TaskRun, old, populate_existing=True)
    assert reaped.state == "failed" and "stopped reporting" in reaped.error
    Session.remove()


def add_runs(db, n, task="check_low_credit_wallets", state="succeeded"):
    """`n` finished runs of a task; their ids."""
    now = datetime.now(timezone.utc)
    runs = [TaskRun(task=task, trigger="schedule", state=state, queued_at=now,
                    started_at=now, finished_at=now, scanned=10, notified=i)
            for i in range(n)]
    db.add_all(runs)
    db.commit()
    return [r.id for r in runs]


def test_task_runs_page_newest_first_with_next_cursor(client, db, op):
    """limit=2 over 5 runs: 2, 2, 1 newest first, then next_cursor null."""
    ids = add_runs(db, 5)
    seen, cursor = [], None
    for _ in range(5):
        url = "/api/v1/task-runs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=op).get_json()
        seen += [r["id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_task_runs_filter_and_get_one(client, db, op):
    """?task= and ?state= filter; GET /task-runs/<id> returns the run with its counts."""
    add_runs(db, 2)
    (failed,) = add_runs(db, 1, task="analyze_high_usage", state="failed")
    body = client.get("/api/v1/task-runs?task=analyze_high_usage", headers=op).get_json()
    assert [r["id"] for r in body["items"]] == [failed]
    body = client.get("/api/v1/task-runs?state=succeeded", headers=op).get_json()
    assert len(body["items"]) == 2 and body["next_cursor"] is None
    one = client.get(f"/api/v1/task-runs/{failed}", headers=op).get_json()
    assert (one["id"], one["state"], one["result"]["scanned"]) == (failed, "failed", 10)
    assert set(one) >= {"task", "trigger", "who", "queued_at", "started_at", "finished_at",
                        "progress", "result", "error"}
    assert client.get("/api/v1/task-runs/987654", headers=op).status_code == 404
    assert client.get("/api/v1/task-runs/99999999999999999999999", headers=op).status_code == 404


def test_task_runs_bad_filters_are_422(client, op):
    """Unknown states, triggers and tasks, and bad limits or cursors are 422 naming the field."""
    for query, field in [("state=exploded", "state"), ("trigger=cron", "trigger"),
                         ("task=drop_tables", "task"), ("limit=0", "limit"),
                         ("limit=x", "limit"), ("cursor=abc", "cursor"),
                         ("cursor=-3", "cursor")]:
        r = client.get(f"/api/v1/task-runs?{query}", headers=op)
        assert r.status_code == 422, (query, r.status_code)
        assert field in r.get_json()["error"]["fields"], query


def test_task_run_filters_answer_the_history_pages_messages(client, op):
    """The API reads ?task=&state=&trigger= with the Scans history page's parse_filters:
    the same checks and the same words, all the bad fields at once."""
    from dashboard.services.errors import ValidationFailed
    from dashboard.services.scans.history import parse_filters

    args = {"task": "drop_tables", "state": "exploded", "trigger": "cron"}
    with pytest.raises(ValidationFailed) as page:
        parse_filters(args)
    r = client.get("/api/v1/task-runs", query_string=args, headers=op)
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert (error["message"], error["fields"]) == (page.value.message, page.value.fields)
    assert error["fields"]["task"] == "Choose a scan from the list."


def test_task_run_pages_are_the_history_services(client, db, op):
    """Each API page is the one list_runs gives for the same filters and cursor."""
    from dashboard.services.scans.history import RunFilters, list_runs

    add_runs(db, 4)
    add_runs(db, 3, task="analyze_high_usage", state="failed")
    filters = RunFilters(task="analyze_high_usage")
    expected, next_id = list_runs(db, filters, limit=2)
    body = client.get("/api/v1/task-runs?task=analyze_high_usage&limit=2", headers=op).get_json()
    assert [r["id"] for r in body["items"]] == [r.id for r in expected]
    assert body["next_cursor"] == str(next_id)
    rest, _ = list_runs(db, filters, before_id=next_id, limit=2)
    body = client.get(f"/api/v1/task-runs?task=analyze_high_usage&limit=2&cursor={next_id}",
                      headers=op).get_json()
    assert [r["id"] for r in body["items"]] == [r.id for r in rest]
    assert body["next_cursor"] is None
