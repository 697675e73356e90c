"""Operations: health, readiness, metrics, retention, and the production web server."""
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import socketio

from dashboard.cli.redis_server import free_port
from dashboard.models import Notification, NotificationDelivery, TaskRun, utcnow
from dashboard.services import notifications
from dashboard.services.notifications import retention
from tests import provider

ROOT = Path(__file__).resolve().parent.parent


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_database_and_redis(client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["worker"]["ok"] is False  # no worker in this test
    assert body["checks"]["beat"]["ok"] is False


def test_readyz_is_503_when_redis_is_down(app, client):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["ok"] is False


def test_metrics_text_format(client, make):
    make.wallet("5.00")  # under 20% of the R 50 threshold: critical
    body = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE quantify_wallets gauge" in body
    assert 'quantify_wallets{state="critical"} 1' in body
    assert "quantify_socket_connections 0" in body


def test_metrics_token(app, client):
    app.config["METRICS_TOKEN"] = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def _runs(db, task: str, seconds: list[float], state: str = "succeeded") -> None:
    """Finished task runs of `task` that took `seconds` each."""
    end = utcnow()
    db.add_all([TaskRun(task=task, trigger="manual", state=state, queued_at=end,
                        started_at=end - timedelta(seconds=s), finished_at=end) for s in seconds])
    db.commit()


def _families(text: str) -> dict:
    """The parsed exposition: {name: family}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_types_labels_and_content_type(client, db, make):
    """prometheus-client's exposition: its content type, gauges for counts (zeros included),
    a gauge histogram of run durations, and label values escaped (a task name with a quote,
    a backslash and a newline comes back intact)."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    make.wallet("5.00")
    odd = 'odd "task" \\ with\nnewline'
    _runs(db, "check_low_credit_wallets", [0.5, 3, 40, 7200])
    _runs(db, odd, [2])
    r = client.get("/metrics")
    assert r.headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
    families = _families(r.get_data(as_text=True))
    assert families["quantify_wallets"].type == "gauge"
    assert {s.labels["state"]: s.value for s in families["quantify_wallets"].samples} == {
        "ok": 0, "low": 0, "critical": 1}
    runs = families["quantify_task_runs"]
    assert runs.type == "gauge"
    assert {(s.labels["task"], s.labels["state"]): s.value for s in runs.samples
            if s.value} == {("check_low_credit_wallets", "succeeded"): 4, (odd, "succeeded"): 1}
    durations = families["quantify_task_run_duration_seconds"]
    assert durations.type == "histogram"  # a gauge histogram, in the 0.0.4 text format
    buckets = {s.labels["le"]: s.value for s in durations.samples
               if s.labels.get("task") == "check_low_credit_wallets"}
    assert (buckets["1.0"], buckets["5.0"], buckets["60.0"], buckets["3600.0"],
            buckets["+Inf"]) == (1, 2, 3, 3, 4)
    assert families["quantify_task_run_duration_seconds_gcount"].type == "gauge"
    assert {s.labels["type"] for s in families["quantify_notifications"].samples} >= {
        "low_credit", "critical_credit", "topup_success", "purchase_success", "high_usage"}
    assert families["quantify_socket_connections"].samples[0].value == 0


def test_metrics_speak_openmetrics_when_asked(client, db):
    """A scraper asking for OpenMetrics gets it, with the gauge histogram typed as one."""
    _runs(db, "analyze_high_usage", [1.5])
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    body = r.get_data(as_text=True)
    assert "# TYPE quantify_task_run_duration_seconds gaugehistogram" in body
    assert body.rstrip().endswith("# EOF")


def test_metrics_cost_one_query_per_family_whatever_the_rows(app, client, db, make):
    """Set-based: a scrape runs the same few GROUP BY queries for 2 wallets or 40."""
    from sqlalchemy import event

    from dashboard.db import get_engine
    from dashboard.services.ops.metrics import FAMILIES

    def statements() -> list[str]:
        """The queries one scrape runs (not the transaction's BEGIN)."""
        seen = []
        grab = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement...)
        event.listen(get_engine(), "before_cursor_execute", grab)
        try:
            assert client.get("/metrics").status_code == 200
        finally:
            event.remove(get_engine(), "before_cursor_execute", grab)
        return [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]

    make.wallet("5.00")
    make.wallet("500.00")
    few = statements()
    for i in range(38):
        make.wallet(f"{i}.00")
    _runs(db, "check_low_credit_wallets", [1.0] * 20)
    many = statements()
    assert len(few) == len(many) == len(FAMILIES)
    assert all("GROUP BY" in sql for sql in many)


def _notification(db, wallet, days_old, key):
    """A stored notification of a given age, delivered to nobody."""
    now = utcnow() - timedelta(days=days_old)
    notifications.store(db, [notifications.notification_row(
        "topup_success", "t", "m", dedup_key=key, now=now, wallet_id=wallet.id)])


def test_retention_prunes_only_old_rows(db, make):
    w = make.wallet("100.00")
    u = make.resident(w)
    _notification(db, w, 120, "old")
    _notification(db, w, 10, "new")
    db.add(TaskRun(task="analyze_high_usage", trigger="schedule", state="succeeded",
                   queued_at=utcnow() - timedelta(days=200)))
    db.commit()
    assert db.query(NotificationDelivery).filter_by(user_id=u.id).count() == 2
    pruned = retention.prune(db, utcnow(), notification_days=90, task_run_days=90)
    assert (pruned.notifications, pruned.deliveries, pruned.task_runs) == (1, 1, 1)
    assert [n.dedup_key for n in db.query(Notification)] == ["new"]


@pytest.mark.stack
def test_gunicorn_gevent_serves_pages_and_websockets(redis_url, tmp_path):
    """The production server: gunicorn -k gevent, Socket.IO over a real websocket."""
    from dashboard.migrate import upgrade

    db_url = f"sqlite:///{tmp_path / 'prod.db'}"
    upgrade(db_url)
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session as OrmSession

    from tests.factories import user

    engine = create_engine(db_url)
    with OrmSession(engine) as s:
        user(s, "operator", email="gunicorn-op@example.test")
        s.commit()
    engine.dispose()
    port = free_port()
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": "p" * 40,
           "PAYMENT_WEBHOOK_SECRET": provider.fresh_secret(), "DATABASE_URL": db_url,
           "REDIS_URL": redis_url, "BIND": f"127.0.0.1:{port}",
           "SOCKETIO_CHANNEL": "gunicorn-test", "SESSION_COOKIE_SECURE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                             "dashboard.wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        assert requests.get(url + "/login", timeout=5).status_code == 200
        anonymous = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            anonymous.connect(url, transports=["websocket"], wait_timeout=5)
        token = requests.post(url + "/api/v1/auth/token", timeout=5, json={
            "email": "gunicorn-op@example.test", "password": "correct-horse-battery"}).json()
        counts = []
        client = socketio.Client(reconnection=False)
        client.on("unread_count", counts.append)
        client.connect(url, transports=["websocket"], auth={"token": token["token"]},
                       wait_timeout=5)
        assert client.transport() == "websocket"
        deadline = time.monotonic() + 5
        while not counts and time.monotonic() < deadline:
            time.sleep(0.05)
        client.disconnect()
        assert counts == [{"count": 0}]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode(errors="replace")
    assert "Traceback" not in output, output


def test_production_refuses_to_start_with_the_dev_secret(tmp_path):
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": "dev-insecure-secret-change-me",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run([sys.executable, "run.py", "web"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
