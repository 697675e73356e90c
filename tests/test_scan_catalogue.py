"""The scan catalogue drives everything that names scans: beat's schedule, the worker's
coordinator tasks, GET /scans, Run now, the history filter, the OpenAPI enum and the CLI; a
scan added as one row shows up in each of them."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import redis
from celery.schedules import crontab

from dashboard.services.scans import catalogue, credit_alerts
from dashboard.services.scans.catalogue import HOUSEKEEPING, PROBE, SCANS, Scan
from tests import factories
from tests.conftest import private_broker_url


def test_beat_runs_every_scan_of_the_catalogue_on_its_schedule():
    """The worker app's beat schedule is the catalogue's: each scan with its crontab and the
    `schedule` trigger, the housekeeping entries, and the probe only when asked for."""
    from config import get_config
    from worker.celery_app import make_celery

    app = make_celery(get_config("testing"))
    schedule = app.conf.beat_schedule
    assert set(schedule) == set(SCANS) | set(HOUSEKEEPING) | {"sweep_deliveries"}
    for name, scan in SCANS.items():
        assert schedule[name] == {"task": name, "schedule": scan.schedule,
                                  "kwargs": {"trigger": "schedule"}}
    for name, every in HOUSEKEEPING.items():
        assert schedule[name] == {"task": name, "schedule": every}
    # The deliveries queue's sweep, on that queue, every DELIVERY_SWEEP_SECONDS.
    assert schedule["sweep_deliveries"]["options"] == {"queue": "deliveries"}
    assert schedule["sweep_deliveries"]["schedule"].total_seconds() == 30
    assert PROBE in catalogue.beat_schedule(probe_seconds=2.0)
    assert app.conf.timezone == "Africa/Johannesburg"


def test_every_scan_has_its_coordinator_task_and_a_pass():
    """worker/scan_tasks.py declares one coordinator per catalogue row, named after it."""
    from worker import scan_tasks
    from worker.celery_app import celery

    assert list(scan_tasks.TASKS) == list(SCANS)
    for name in SCANS:
        assert scan_tasks.TASKS[name].name == name and name in celery.tasks
        assert getattr(scan_tasks, name) is scan_tasks.TASKS[name]
        assert callable(SCANS[name].run_pass) and SCANS[name].walks in catalogue.WALKS
    assert {scan.kind for scan in SCANS.values()} == {"low_credit", "critical_credit",
                                                     "high_usage", "operator_digest",
                                                     "meter_silent"}
    assert catalogue.for_kind("meter_silent").walks == "meters"
    assert catalogue.for_kind("operator_digest").walks == "estates"


def test_daily_descriptions_say_the_crontab():
    """A "Daily at HH:MM" description names the one time its crontab fires."""
    for scan in SCANS.values():
        match = re.fullmatch(r"Daily at (\d\d):(\d\d)", scan.description)
        if match:
            assert scan.schedule.hour == {int(match[1])}, scan.name
            assert scan.schedule.minute == {int(match[2])}, scan.name
    assert catalogue.for_kind("high_usage").walks == "meters"


def test_get_scans_lists_the_catalogue(client, db):
    """GET /scans: the catalogue's names in its order, each with its description."""
    headers = factories.operator_and_token(db, client)
    body = client.get("/api/v1/scans", headers=headers).get_json()
    assert [(s["name"], s["schedule"]) for s in body] == \
        [(scan.name, scan.description) for scan in SCANS.values()]


def test_a_new_scan_is_one_row(client, db, auth, make, monkeypatch, redis_url):
    """A row added to the catalogue (here a second low-credit pass at 08:00, as issue 15's
    check_silent_meters will be one row): GET /scans shows it with its next run, Run now
    queues its task, the history filter accepts it, beat schedules it, the scans page has
    its region."""
    extra = Scan("check_low_credit_again", "low_credit", "wallets", crontab(hour=8, minute=0),
                 "Daily at 08:00", credit_alerts.credit_pass)
    monkeypatch.setitem(SCANS, extra.name, extra)
    headers = factories.operator_and_token(db, client)
    scans = {s["name"]: s for s in client.get("/api/v1/scans", headers=headers).get_json()}
    assert scans[extra.name]["schedule"] == "Daily at 08:00"
    assert datetime.fromisoformat(scans[extra.name]["next_run_at"]).hour == 8
    broker = redis.Redis.from_url(private_broker_url(redis_url))
    broker.delete("notifications")
    r = client.post(f"/api/v1/scans/{extra.name}/run", headers=headers)
    assert r.status_code == 202, r.get_json()
    (raw,) = broker.lrange("notifications", 0, -1)
    assert json.loads(raw)["headers"]["task"] == extra.name
    r = client.get(f"/api/v1/task-runs?task={extra.name}", headers=headers)
    assert r.status_code == 200 and len(r.get_json()["items"]) == 1
    assert catalogue.beat_schedule()[extra.name]["schedule"] is extra.schedule
    make.user("operator", email="catalogue-op@example.test")
    assert auth.login("catalogue-op@example.test").status_code == 302
    page = client.get("/scans").get_data(as_text=True)
    assert extra.name in page and "Daily at 08:00" in page


def test_the_openapi_enum_and_the_cli_choices_are_the_catalogue(client):
    """The scan name the API document allows and the `run.py scan` choices."""
    import run

    doc = client.get("/api/v1/openapi.json").get_json()
    params = doc["paths"]["/scans/{name}/run"]["post"]["parameters"]
    assert params[0]["schema"]["enum"] == list(SCANS)
    sub = next(a for a in run.parser()._subparsers._group_actions)
    assert list(sub.choices["scan"]._actions[-1].choices) == list(SCANS)


def test_next_runs_follow_the_catalogue(db):
    """describe() computes each scan's next run from its catalogue crontab."""
    from dashboard.services.scans import describe

    now = datetime(2026, 3, 10, 3, 59, tzinfo=timezone.utc)
    infos = describe(db, now, "Africa/Johannesburg")
    assert [i.name for i in infos] == list(SCANS)
    for info in infos:
        assert info.next_run_at == catalogue.next_run(SCANS[info.name].schedule, now,
                                                      "Africa/Johannesburg")
