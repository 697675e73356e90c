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
           "DATABASE_URL": db_url, "REDIS_URL": redis_url, "BIND": f"127.0.0.1:{port}",
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
